// Streamed execution of `[settings] IN steps OUT` where IN is a large native JPEG or PNG, every step a
// pointwise or neighbourhood operator (or a setting), and OUT a native JPEG: the image is never
// whole in memory. The output image's rows are produced on demand (Pixels::Producer) as the
// encoder asks for them: each band of rows is decoded (plus, above and below, the sum of the
// steps' kernel radii), run through the executor's own mogrify() exactly as the whole image
// would be, and its middle rows kept. Rows at a band's cut edges only feed rows that are thrown
// away, so every kept row is the one the whole-image run computes: bit-identical output.
//
// Anything out of the ordinary (a decoder warning or error, a step that fails) abandons the
// streamed run: its staged output is discarded and the command runs again the ordinary way,
// which reports it as ImageMagick would (Executor::convert).
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>

#include "cache/tiers.h"
#include "src/codecs/codec.h"
#include "src/exec/executor.h"
#include "src/exec/io.h"
#include "src/ops/op_spec.h"
#include "src/ops/resample.h"

namespace mtool::exec {
namespace {

constexpr uint64_t kMinPixels = 4000000;  // smaller images gain nothing worth the second path

/// The steps a band can run: pointwise ones (radius 0), the separable convolutions (their
/// radius); -1 for anything else.
int band_radius(const std::string& option, const std::vector<std::string>& args) {
    static const char* const pointwise[] = {"-negate",
                                            "+negate",
                                            "-level",
                                            "+level",
                                            "-gamma",
                                            "-brightness-contrast",
                                            "-sigmoidal-contrast",
                                            "+sigmoidal-contrast",
                                            "-solarize",
                                            "-threshold",
                                            "-evaluate"};
    const ops::OpSpec* spec = ops::find(option);
    if (!spec || !spec->run) return -1;  // ImageMagick's steps need the whole image in its cache
    for (const char* p : pointwise)
        if (option == p) return 0;
    if (option == "-blur" || option == "-gaussian-blur" || option == "-sharpen" || option == "-unsharp")
        return args.empty() ? -1 : kernel_radius(args[0]);
    return -1;
}

/// Options that end a streamed chain whatever it streams: image lists and parentheses, writes
/// along the way, and the ones that report as they go.
bool breaks_stream(const std::string& option) {
    return option == "(" || option == ")" || option == "-write" || option == "+write" ||
           option == "-respect-parentheses" || option == "-monitor" || option == "-debug" ||
           option == "-verbose";
}

/// A plain file name ending in .jpg/.jpeg/.png (no format prefix, no %d, not stdout): the
/// native writers, which read rows front to back (PNG twice: its colour-type scan, then the
/// rows; the second pass produces the rows again).
bool streamable_output(const std::string& out, bool& png) {
    const size_t dot = out.rfind('.');
    if (out.find('%') != std::string::npos || out.find(':') != std::string::npos || dot == std::string::npos)
        return false;
    const std::string ext = out.substr(dot + 1);
    png = strcasecmp(ext.c_str(), "png") == 0;
    return png || strcasecmp(ext.c_str(), "jpg") == 0 || strcasecmp(ext.c_str(), "jpeg") == 0;
}

/// A reader decoding ahead on its own thread, up to `capacity` rows, so that a band's decode
/// overlaps the computing and encoding of the ones before it (the decoder is sequential: without
/// this, every band waited for its rows on one core). read() returns false where the reader
/// would have: at the row whose decode failed or warned, and past the last row. Falls back to
/// decoding on the caller's thread when no thread can be started.
class PrefetchReader final : public codecs::RowReader {
public:
    PrefetchReader(std::unique_ptr<codecs::RowReader> in, int capacity)
        : in_(std::move(in)),
          cap_(static_cast<size_t>(std::max(capacity, 1))),
          stride_(static_cast<size_t>(in_->width) * in_->channels * in_->bytes_per_sample),
          buf_(cap_ * stride_) {
        width = in_->width;
        height = in_->height;
        channels = in_->channels;
        bytes_per_sample = in_->bytes_per_sample;
        try {
            thread_ = std::thread([this] { run(); });
        } catch (const std::system_error&) {
            sync_ = true;
        }
    }
    ~PrefetchReader() override {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
        }
        writable_.notify_all();
        if (thread_.joinable()) thread_.join();
    }
    bool read(uint8_t* dst, int n) override {
        if (sync_) return in_->read(dst, n);
        for (int i = 0; i < n; ++i) {
            std::unique_lock<std::mutex> lk(m_);
            // A side that finds nothing to do sleeps until the other has a batch of rows for it
            // (or is done): waking on every row cost a context switch per row.
            if (produced_ == consumed_ && !done_) {
                const size_t want = std::clamp<size_t>(static_cast<size_t>(height) - consumed_, 1, batch_);
                reader_waits_ = true;
                readable_.wait(lk, [&] { return produced_ - consumed_ >= want || done_; });
                reader_waits_ = false;
            }
            if (produced_ == consumed_) return false;
            const uint8_t* src = buf_.data() + (consumed_ % cap_) * stride_;
            lk.unlock();  // the slot is not written again before it is consumed
            std::memcpy(dst + i * stride_, src, stride_);
            lk.lock();
            ++consumed_;
            const bool wake = decoder_waits_ && cap_ - (produced_ - consumed_) >= batch_;
            lk.unlock();
            if (wake) writable_.notify_one();
        }
        return true;
    }

private:
    void run() {
        std::unique_lock<std::mutex> lk(m_);
        while (true) {
            if (!stop_ && produced_ - consumed_ >= cap_) {
                decoder_waits_ = true;
                writable_.wait(lk, [&] { return stop_ || cap_ - (produced_ - consumed_) >= batch_; });
                decoder_waits_ = false;
            }
            if (stop_) return;
            if (produced_ == static_cast<size_t>(height)) break;
            uint8_t* dst = buf_.data() + (produced_ % cap_) * stride_;
            lk.unlock();
            const bool ok = in_->read(dst, 1);
            lk.lock();
            if (!ok) break;
            ++produced_;
            if (reader_waits_ &&
                (produced_ - consumed_ >= batch_ || produced_ == static_cast<size_t>(height)))
                readable_.notify_one();
        }
        done_ = true;
        readable_.notify_one();
    }
    std::unique_ptr<codecs::RowReader> in_;
    const size_t cap_, stride_;
    std::vector<uint8_t> buf_;
    const size_t batch_ = std::max<size_t>(1, cap_ / 8);
    std::mutex m_;
    std::condition_variable readable_, writable_;
    size_t produced_ = 0, consumed_ = 0;
    bool done_ = false, stop_ = false, sync_ = false, reader_waits_ = false, decoder_waits_ = false;
    std::thread thread_;
};

}  // namespace

/// Produces the rows of the streamed result band by band.
class BandProducer final : public Pixels::Producer {
public:
    BandProducer(Executor& ex, const ::ImageInfo* info, std::string path, bool png, magick::ImagePtr shell,
                 std::vector<std::string> steps, size_t base, int radius)
        : ex_(ex),
          info_(magick::clone_info(info)),
          path_(std::move(path)),
          png_(png),
          shell_(std::move(shell)),
          steps_(std::move(steps)),
          base_(base),
          radius_(radius) {}

    /// Opens the decoder; false if the file is not one to stream.
    bool start() {
        reader_ = png_ ? codecs::png_rows(path_) : codecs::jpeg_rows(path_);
        ring_.clear();
        ring_y0_ = 0;
        if (!reader_ || reader_->width != static_cast<int>(shell_->columns) ||
            reader_->height != static_cast<int>(shell_->rows))
            return false;
        if (threads_ > 1) reader_ = std::make_unique<PrefetchReader>(std::move(reader_), band_rows());
        if (png_) {
            // As read_png: the file's channels must be the layout ImageMagick's header read
            // announced (no conversion), at the depth decoded.
            if (layout_of(shell_.get()).channels() != reader_->channels) return false;
            shell_->depth = reader_->bytes_per_sample == 2 ? 16 : std::min<size_t>(shell_->depth, 8);
            shell_->storage_class = DirectClass;
        } else {
            shell_->colorspace = reader_->channels == 1 ? GRAYColorspace : sRGBColorspace;  // as read_jpeg
            shell_->matte = MagickFalse;
            shell_->depth = 8;
        }
        return true;
    }
    ~BandProducer() override { settle(); }
    /// 256 rows of a 6000-pixel RGB row's bytes at most: a wider image takes fewer rows per
    /// band (64 at least), so that the bands in flight hold the same bytes whatever the size.
    int band_rows() const override {
        constexpr size_t kBandBytes = 256 * 6000 * 3;
        const size_t stride =
            static_cast<size_t>(reader_->width) * reader_->channels * reader_->bytes_per_sample;
        return static_cast<int>(std::clamp<size_t>(kBandBytes / std::max<size_t>(stride, 1), 64, 256));
    }
    int channels() const { return reader_->channels; }
    int bytes_per_sample() const { return reader_->bytes_per_sample; }
    void restart() override {
        settle();
        if (!start()) throw StreamAbort{};
    }

    /// Runs the steps on rows [y0, y1) (with their margins) and returns that band's result,
    /// whose rows [y0 - first, y1 - first) are the wanted ones.
    Image band(int y0, int y1, int& first) {
        const int h = reader_->height, w = reader_->width, ch = reader_->channels,
                  bps = reader_->bytes_per_sample;
        first = std::max(0, y0 - radius_);
        const int last = std::min(h, y1 + radius_);
        const size_t stride = static_cast<size_t>(w) * ch * bps;
        // Rows the previous band decoded (its lower margin: this band's upper one) come from the
        // ring; the others are decoded straight into the band, in order.
        auto px = std::make_shared<Pixels>(w, last - first, ch, bps);
        const int decoded = ring_y0_ + static_cast<int>(ring_.size());  // the reader's next row
        std::vector<uint8_t> skip;
        for (int y = decoded; y < first; ++y) {  // (rows no band needs: none in sequence)
            skip.resize(stride);
            if (!reader_->read(skip.data(), 1)) throw StreamAbort{};
        }
        for (int y = first; y < last; ++y) {
            uint8_t* row = px->row(y - first);
            if (y < decoded) {
                if (y < ring_y0_) throw StreamAbort{};  // behind the reader: not in sequence
                std::memcpy(row, ring_[y - ring_y0_].data(), stride);
            } else if (!reader_->read(row, 1)) {
                throw StreamAbort{};
            }
        }
        // What the next band (from y1 on) reads again: rows [y1 - radius, last).
        ring_.clear();
        ring_y0_ = std::max(first, std::min(last, y1 - radius_));
        for (int y = ring_y0_; y < last; ++y) {
            const uint8_t* row = px->row(y - first);
            ring_.emplace_back(row, row + stride);
        }
        if (ring_.empty()) ring_y0_ = last;
        ImageList list;
        list.emplace_back(shell_like(shell_.get(), w, last - first), std::move(px));
        magick::InfoPtr local = magick::clone_info(info_.get());
        const size_t messages = ex_.ctx_.diag.count();
        ex_.seg_base_ = base_;
        in_band = true;
        bool ok = false;
        try {
            ok = ex_.mogrify(local.get(), steps_, list);
        } catch (...) {
            in_band = false;
            ex_.seg_base_ = std::string::npos;
            throw;
        }
        in_band = false;
        ex_.seg_base_ = std::string::npos;
        if (!ok || list.size() != 1 || ex_.ctx_.diag.count() != messages) throw StreamAbort{};
        return list[0];
    }
    void produce(Pixels& out, int y0, int y1) override {
        // Any failure here (a limit, an I/O error) is the ordinary run's to report, worded as it
        // words it: the command runs again that way.
        try {
            produce_band(out, y0, y1);
        } catch (const Error&) {
            throw StreamAbort{};
        }
    }
    void produce_band(Pixels& out, int y0, int y1) {
        int first = 0;
        Image r;
        if (next_.valid() && next_y0_ == y0 && next_y1_ == y1) {
            std::tie(r, first) = next_.get();
        } else {
            settle();
            r = band(y0, y1, first);
        }
        // The next band is decoded and computed on another thread while this one is encoded.
        const int h = out.height();
        if (y1 < h && threads_ > 1) {
            next_y0_ = y1;
            next_y1_ = std::min(h, y1 + (y1 - y0));
            next_ = std::async(std::launch::async, [this, a = next_y0_, b = next_y1_] {
                int f = 0;
                Image img = band(a, b, f);
                cache::thread_release_all();
                return std::make_pair(std::move(img), f);
            });
        }
        const Pixels& p = r.pixels();
        if (p.width() != out.width() || p.channels() != out.channels() ||
            p.bytes_per_sample() != out.bytes_per_sample())
            throw StreamAbort{};
        for (int y = y0; y < y1; ++y) std::memcpy(out.row(y), p.row(y - first), out.stride());
    }

private:
    /// Waits for the band computed ahead, dropping it (and any failure it met).
    void settle() {
        if (!next_.valid()) return;
        try {
            next_.get();
        } catch (...) {
        }
    }
    Executor& ex_;
    magick::InfoPtr info_;
    std::string path_;
    bool png_;
    magick::ImagePtr shell_;
    std::vector<std::string> steps_;
    size_t base_;
    int radius_;
    std::unique_ptr<codecs::RowReader> reader_;
    std::deque<std::vector<uint8_t>> ring_;
    int ring_y0_ = 0;
    std::future<std::pair<Image, int>> next_;
    int threads_ = ex_.ctx_.threads;  ///< one: no band computed ahead
    int next_y0_ = 0, next_y1_ = 0;
};

std::optional<Image> Executor::stream_read(::ImageInfo* info, const std::vector<std::string>& args,
                                           size_t i) {
    const size_t argc = args.size();
    const std::string& in = args[i];
    // The decision goes into the plan (or the run's record) with its reason.
    auto no = [&](const std::string& why) -> std::optional<Image> {
        record(PlanEntry{PlanEntry::Kind::stream, i, in, "", "no", why, "", "", "", ""});
        return std::nullopt;
    };
    bool png = false;
    if (!streaming_) return no(stream_abandoned_ ? "the streamed run was abandoned: ran again whole" : "off");
    if (i + 1 > argc - 1 || !streamable_output(args.back(), png))
        return no("the output is not a plain .jpg or .png file");
    if (info->verbose || info->ping) return no("-verbose or -ping");
    if (in.empty() || in.back() == ']' || in == "-" || in.find(':') != std::string::npos)
        return no("the input is not a plain file name");
    const char* on = GetImageOption(info, "mtool:stream");
    if (on && IsStringNotFalse(on) == MagickFalse) return no("-define mtool:stream=false");
    // The steps: known options, settings or band steps, each with its arguments.
    std::vector<std::string> steps(args.begin() + static_cast<long>(i + 1), args.end() - 1);
    // IN -resize G [settings] OUT (or a quarter turn, -transpose, -transverse): the read is pulled. The
    // ordinary run goes on with an image whose rows the JPEG decoder makes as the resize asks for them, and a
    // resize result whose rows are made as the encoder asks for them (ops::resample_streamed); a PNG,
    // progressive or small JPEG is read the ordinary way.
    auto pulls = [&]() -> int {  // the pulling step's arity, or -1
        if (steps.empty()) return -1;
        if (steps[0] == "-transpose" || steps[0] == "-transverse") return 0;
        if (steps.size() < 2) return -1;
        if (steps[0] == "-resize") return 1;
        if (steps[0] == "-rotate") {
            // A quarter turn (conditional or not): the column bands of a transposing step.
            const double deg = std::strtod(steps[1].c_str(), nullptr);
            const double q = deg / 90.0;
            return q == std::floor(q) && std::fabs(std::fmod(q, 2.0)) == 1.0 ? 1 : -1;
        }
        return -1;
    };
    if (const int arity = pulls(); arity >= 0) {
        bool settings_only = true;
        for (size_t k = 1 + static_cast<size_t>(arity); k < steps.size() && settings_only;) {
            const magick::OptionInfo oi = magick::option_info(steps[k]);
            if (!oi.known || oi.arity < 0 || k + 1 + static_cast<size_t>(oi.arity) > steps.size() ||
                ((oi.flags & (SimpleOperatorOptionFlag | ListOperatorOptionFlag | FireOptionFlag |
                              SpecialOperatorOptionFlag)) &&
                 steps[k] != "-define") ||  // (on the result: an artifact, no pixels)
                steps[k][0] == '+' ||
                steps[k] == "-colors" ||  // (+ forms, -colors: operators)
                (png && (steps[k] == "-interlace" || (steps[k] == "-define" && k + 1 < steps.size() &&
                                                      steps[k + 1].rfind("png:", 0) == 0))) ||
                breaks_stream(steps[k]))
                settings_only = false;
            k += 1 + static_cast<size_t>(std::max(oi.arity, 0));
        }
        struct stat st {};
        // The resize native (the filter ImageMagick's own where mtool has it), a PNG written
        // without interlacing (its passes would each produce the image again).
        const char* filter = GetImageOption(info, "filter");
        const ssize_t type = filter ? ParseCommandOption(MagickFilterOptions, MagickFalse, filter) : 0;
        const bool native_filter =
            !ops::has_filter_defines(info) &&
            (!filter || (type >= 0 && ops::filter_for(static_cast<FilterTypes>(type), 1.0)));
        const bool interlaced = info->interlace != UndefinedInterlace && info->interlace != NoInterlace;
        if (settings_only && native_filter && !(png && interlaced) && ctx_.native_reads && !info->extract &&
            ::stat(in.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            pull_read_ = !planning_;
            record(PlanEntry{PlanEntry::Kind::stream, i, in, "", "pulled",
                             "a sequential JPEG decoding to 4 megapixels or more: its " +
                                 std::string(steps[0] == "-resize" ? "rows" : "column bands") + " as " +
                                 steps[0] + " asks for them",
                             "", "", "", ""});
            return std::nullopt;
        }
    }
    int radius = 0;
    for (size_t k = 0; k < steps.size();) {
        const magick::OptionInfo oi = magick::option_info(steps[k]);
        if (!oi.known || oi.arity < 0 || k + 1 + static_cast<size_t>(oi.arity) > steps.size())
            return no(steps[k] + " is not a known option with its arguments");
        std::vector<std::string> a(steps.begin() + static_cast<long>(k + 1),
                                   steps.begin() + static_cast<long>(k + 1 + oi.arity));
        if (oi.flags & (SimpleOperatorOptionFlag | ListOperatorOptionFlag | FireOptionFlag)) {
            const int r = band_radius(steps[k], a);
            if (r < 0) return no(steps[k] + " is not a pointwise or separable step");
            radius += r;
        }
        if (breaks_stream(steps[k]) || steps[k] == "-channel" || steps[k] == "-region" ||
            steps[k] == "-alpha" || (png && (steps[k] == "-interlace" || steps[k] == "+interlace")))
            return no(steps[k] + " is not streamed");
        k += 1 + static_cast<size_t>(oi.arity);
    }
    if (png && info->interlace != UndefinedInterlace && info->interlace != NoInterlace)
        return no("an interlaced PNG is written whole");
    // The header as an ordinary read would give it (a native JPEG or PNG of at least kMinPixels).
    magick::InfoPtr pinging = magick::clone_info(info);
    pinging->ping = MagickTrue;
    magick::ImagePtr shell;
    // A regular file only (it is opened again for a second pass), read as the ordinary path
    // would allow it: the policy's rights for its coder and the path.
    struct stat st {};
    if (!ctx_.native_reads || info->extract || ::stat(in.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
        return no("the input is not a regular file read natively");
    bool png_in = false;
    try {
        std::FILE* f = std::fopen(in.c_str(), "rb");
        if (!f) return no("the input cannot be opened");
        unsigned char head[16] = {};
        const size_t n = std::fread(head, 1, sizeof head, f);
        std::fclose(f);
        const codecs::CodecSpec* codec = codecs::sniff(head, n);
        if (codec != &codecs::jpeg_codec && codec != &codecs::png_codec)
            return no("the input is not a JPEG or PNG");
        png_in = codec == &codecs::png_codec;
        check_policy(in, codec->name, ReadPolicyRights);
        check_time_limit();
        Context quiet = ctx_;
        quiet.diag = Diagnostics{};
        codecs::ReadRequest req{in, nullptr, pinging.get(), quiet};
        Image header = codec->read(req);
        // (A palette PNG is marked as such when its shell is rebuilt; read_png does not.)
        if (!quiet.diag.all().empty()) return no("the header read warns");
        if (header.shell()->storage_class == PseudoClass) return no("a palette image");
        shell = shell_like(header.shell(), static_cast<int>(header.shell()->columns),
                           static_cast<int>(header.shell()->rows));
    } catch (...) {
        return no("the header read fails");
    }
    if (static_cast<uint64_t>(shell->columns) * shell->rows < kMinPixels) return no("under 4 megapixels");
    // Only what the ordinary run could do within its limits: the image plus a kernel must fit the
    // width and height limits, and the whole image with a 16-bit result the tiers, or the
    // ordinary run's own failure is the one to report. Large kernels are not streamed: each
    // band would recompute most of its neighbours.
    const cache::Budgets b = cache::TierManager::global().budgets();
    const uint64_t pixels = static_cast<uint64_t>(shell->columns) * shell->rows;
    constexpr int kMaxRadius = 32;
    if (radius > kMaxRadius) return no("kernels over 32 rows");
    if (shell->columns + 2 * radius > b.width || shell->rows + 2 * radius > b.height ||
        (b.area != cache::kUnlimited && pixels > b.area))
        return no("over the width, height or area limit");
    const int w = static_cast<int>(shell->columns), h = static_cast<int>(shell->rows);
    auto producer =
        std::make_unique<BandProducer>(*this, info, in, png_in, std::move(shell), steps, i + 1, radius);
    if (!producer->start()) return no("the row reader refuses the file");
    // The whole run holds the decoded source and the steps' result (16-bit at most, the same
    // channels: no band step adds one) at once.
    if (pixels * producer->channels() * (producer->bytes_per_sample() + 2) > b.room())
        return no("the whole image would not fit the tiers");
    const std::string how = "bands of " + std::to_string(producer->band_rows()) + " rows, " +
                            std::to_string(radius) + " rows of margin";
    if (planning_) {
        // The plan goes on through the ordinary path to record the steps and the write, as
        // the streamed run records them.
        record(PlanEntry{PlanEntry::Kind::stream, i, in, "", "yes", how, "", "", "", ""});
        return std::nullopt;
    }
    int first = 0;
    // A few rows tell the result's layout and attributes; then production starts over.
    try {
        const size_t logged = log_ ? log_->size() : 0;
        log_band_ = true;
        Image head;
        try {
            head = producer->band(0, std::min(h, 16), first);
        } catch (...) {
            log_band_ = false;
            throw;
        }
        log_band_ = false;
        auto out = std::make_shared<Pixels>(w, h, head.pixels().channels(), head.pixels().bytes_per_sample());
        producer->restart();
        out->set_producer(std::move(producer));
        Image result(shell_like(head.shell(), w, h), std::move(out));
        if (log_) {
            // The run's record as the plan has it: the stream, the read, the steps on the whole.
            std::vector<PlanEntry> band(log_->begin() + static_cast<long>(logged), log_->end());
            log_->resize(logged);
            const std::string size = std::to_string(w) + "x" + std::to_string(h);
            record(PlanEntry{PlanEntry::Kind::stream, i, in, "", "yes", how, "", "", "", ""});
            record(PlanEntry{PlanEntry::Kind::read, i, in, "", "native", "", "", "", "", size});
            for (PlanEntry& e : band) {
                e.input = "[0] " + size;
                e.output = size;
                record(std::move(e));
            }
        }
        return result;
    } catch (const Error&) {
        return no("the first band fails");  // the ordinary run reports it
    } catch (const StreamAbort&) {
        return no("the first band is out of the ordinary");
    }
}

}  // namespace mtool::exec
