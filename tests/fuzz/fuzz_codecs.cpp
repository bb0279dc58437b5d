// In-process fuzzing of the native codecs through the whole engine. Seeds (one file per layout:
// interlaced, 16-bit, palette, gray+alpha PNG; baseline, progressive, arithmetic, gray JPEG;
// JPEG 2000) are mutated deterministically (truncation, bit flips, runs overwritten, inserted,
// deleted or duplicated, PNG chunk CRCs repaired so the damage reaches the decoder) and each
// case is identified and converted (decode, -resize, a native encode) in this one process, so
// thousands of cases run in seconds, also under AddressSanitizer. A crash ends the run with the
// case's name; a case over the time limit is reported as a hang; after every case the work
// directory must hold nothing but the input (no output of a failed case, no staging directory,
// no spill file).
//
//   fuzz_codecs SEEDDIR WORKDIR CASES_PER_FORMAT [RANDOM_SEED]
//   fuzz_codecs --arith IN.jpg OUT.jpg     (an arithmetic-coded copy of a JPEG, for a seed)
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <zlib.h>

#include "src/core/magick.h"
#include "src/exec/executor.h"

namespace {

using Bytes = std::vector<unsigned char>;

Bytes slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const Bytes& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

uint32_t be32(const Bytes& d, size_t at) {
    return (uint32_t{d[at]} << 24) | (uint32_t{d[at + 1]} << 16) | (uint32_t{d[at + 2]} << 8) | d[at + 3];
}

/// Rewrites every PNG chunk's CRC that can still be found, so libpng looks past them.
void repair_png_crcs(Bytes& d) {
    size_t at = 8;
    while (at + 12 <= d.size()) {
        const uint32_t len = be32(d, at);
        if (len > d.size() || at + 12 + len > d.size()) break;
        uLong crc = crc32(0, d.data() + at + 4, len + 4);
        for (int i = 0; i < 4; ++i) d[at + 8 + len + i] = static_cast<unsigned char>(crc >> (24 - 8 * i));
        at += 12 + len;
    }
}

/// A PNG whose image data (inflated, damaged, deflated again) or header fields are changed, so
/// the damage gets past zlib's checksum to row filters, interlacing and sample depths.
Bytes mutate_png_structure(const Bytes& seed, std::mt19937& rng) {
    Bytes head, idat, tail;
    size_t at = 8;
    bool after = false;
    while (at + 12 <= seed.size()) {
        const uint32_t len = be32(seed, at);
        if (at + 12 + len > seed.size()) break;
        const bool is_idat = std::memcmp(&seed[at + 4], "IDAT", 4) == 0;
        if (is_idat) {
            idat.insert(idat.end(), seed.begin() + static_cast<long>(at + 8),
                        seed.begin() + static_cast<long>(at + 8 + len));
            after = true;
        } else {
            Bytes& to = after ? tail : head;
            to.insert(to.end(), seed.begin() + static_cast<long>(at),
                      seed.begin() + static_cast<long>(at + 12 + len));
        }
        at += 12 + len;
    }
    if (head.size() < 25 || idat.empty()) return seed;
    Bytes raw(1 << 20);
    uLongf raw_len = raw.size();
    if (uncompress(raw.data(), &raw_len, idat.data(), idat.size()) != Z_OK) return seed;
    raw.resize(raw_len);
    if (rng() % 3 == 0) {
        // IHDR: width, height, bit depth, colour type, interlace (head starts with IHDR's length).
        const size_t field = 8 + std::array<size_t, 5>{0, 4, 8, 9, 12}[rng() % 5];
        if (field < 16)
            head[field + 3] ^= static_cast<unsigned char>(1u << (rng() % 8));
        else
            head[field] = static_cast<unsigned char>(rng() % 17);
    } else if (!raw.empty()) {
        for (int i = 1 + static_cast<int>(rng() % 6); i > 0; --i)
            raw[rng() % raw.size()] = static_cast<unsigned char>(rng());
        if (rng() % 4 == 0) raw.resize(rng() % raw.size());
    }
    Bytes z(compressBound(raw.size()));
    uLongf z_len = z.size();
    compress(z.data(), &z_len, raw.data(), raw.size());
    z.resize(z_len);
    Bytes out(seed.begin(), seed.begin() + 8);
    out.insert(out.end(), head.begin(), head.end());
    const unsigned char len[4] = {static_cast<unsigned char>(z_len >> 24),
                                  static_cast<unsigned char>(z_len >> 16),
                                  static_cast<unsigned char>(z_len >> 8), static_cast<unsigned char>(z_len)};
    out.insert(out.end(), len, len + 4);
    out.insert(out.end(), {'I', 'D', 'A', 'T'});
    out.insert(out.end(), z.begin(), z.end());
    out.insert(out.end(), 4, 0);  // CRC, repaired below
    out.insert(out.end(), tail.begin(), tail.end());
    repair_png_crcs(out);
    return out;
}

Bytes mutate(const Bytes& seed, std::mt19937& rng, bool png) {
    if (png && rng() % 2) return mutate_png_structure(seed, rng);
    Bytes d = seed;
    auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
    const int rounds = 1 + static_cast<int>(rng() % 3);
    for (int r = 0; r < rounds && !d.empty(); ++r) {
        switch (rng() % 7) {
            case 0:
                d.resize(pick(d.size()));
                break;  // truncation
            case 1:
                for (int i = 1 + static_cast<int>(rng() % 8); i > 0; --i)
                    d[pick(d.size())] ^= 1u << (rng() % 8);
                break;
            case 2: {  // a run overwritten with noise
                size_t at = pick(d.size()), n = 1 + rng() % 16;
                for (size_t i = at; i < std::min(d.size(), at + n); ++i)
                    d[i] = static_cast<unsigned char>(rng());
                break;
            }
            case 3: {  // noise inserted
                size_t at = pick(d.size()), n = 1 + rng() % 16;
                Bytes noise(n);
                for (auto& b : noise) b = static_cast<unsigned char>(rng());
                d.insert(d.begin() + static_cast<long>(at), noise.begin(), noise.end());
                break;
            }
            case 4: {  // a run deleted
                size_t at = pick(d.size()), n = 1 + rng() % 64;
                d.erase(d.begin() + static_cast<long>(at),
                        d.begin() + static_cast<long>(std::min(d.size(), at + n)));
                break;
            }
            case 5: {  // a run duplicated elsewhere
                size_t from = pick(d.size()), n = 1 + rng() % 256, to = pick(d.size());
                Bytes run(d.begin() + static_cast<long>(from),
                          d.begin() + static_cast<long>(std::min(d.size(), from + n)));
                d.insert(d.begin() + static_cast<long>(to), run.begin(), run.end());
                break;
            }
            default:
                d[pick(d.size())] = rng() % 2 ? 0x00 : 0xFF;
                break;
        }
    }
    if (png && rng() % 2) repair_png_crcs(d);
    return d;
}

std::vector<std::string> entries(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d))
            if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) out.push_back(e->d_name);
        closedir(d);
    }
    return out;
}

const char* g_case = "";
void on_alarm(int) {
    std::fprintf(stderr, "fuzz: HANG in case %s\n", g_case);
    _exit(3);
}

int run_case(const std::string& input, const std::vector<std::string>& convert_args) {
    mtool::Context ctx;
    ctx.quiet = true;
    mtool::exec::Executor engine(ctx);
    {
        // identify: a header read
        mtool::magick::InfoPtr info(AcquireImageInfo());
        info->ping = MagickTrue;
        mtool::exec::ImageList got;
        engine.read(info.get(), input, got);
    }
    int rc = engine.convert(convert_args);
    ctx.diag = mtool::Diagnostics();
    return rc;
}

/// An arithmetic-coded copy of a JPEG (libjpeg-turbo supports writing them; ImageMagick does
/// not), made by transcoding the DCT coefficients.
int make_arithmetic(const char* in, const char* out) {
    std::FILE* fi = std::fopen(in, "rb");
    std::FILE* fo = std::fopen(out, "wb");
    if (!fi || !fo) return 1;
    jpeg_decompress_struct d;
    jpeg_compress_struct c;
    jpeg_error_mgr e1, e2;
    d.err = jpeg_std_error(&e1);
    c.err = jpeg_std_error(&e2);
    jpeg_create_decompress(&d);
    jpeg_create_compress(&c);
    jpeg_stdio_src(&d, fi);
    jpeg_read_header(&d, TRUE);
    jvirt_barray_ptr* coef = jpeg_read_coefficients(&d);
    jpeg_copy_critical_parameters(&d, &c);
    c.arith_code = TRUE;
    jpeg_stdio_dest(&c, fo);
    jpeg_write_coefficients(&c, coef);
    jpeg_finish_compress(&c);
    jpeg_finish_decompress(&d);
    jpeg_destroy_compress(&c);
    jpeg_destroy_decompress(&d);
    std::fclose(fi);
    std::fclose(fo);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "--arith") == 0) return make_arithmetic(argv[2], argv[3]);
    if (argc < 4) {
        std::fprintf(stderr, "usage: fuzz_codecs SEEDDIR WORKDIR CASES_PER_FORMAT [RANDOM_SEED]\n");
        return 2;
    }
    const std::string seeds = argv[1], work = argv[2];
    const int per_format = std::atoi(argv[3]);
    const unsigned random_seed = argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 20261201u;
    const std::string tmp = work + "/tmp";
    ::mkdir(work.c_str(), 0700);
    ::mkdir(tmp.c_str(), 0700);
    setenv("MAGICK_TEMPORARY_PATH", tmp.c_str(), 1);
    mtool::magick::initialize(argv[0]);
    // Bounded cases: damaged headers may claim huge images; these fail cleanly and fast.
    SetMagickResourceLimit(WidthResource, 8192);
    SetMagickResourceLimit(HeightResource, 8192);
    SetMagickResourceLimit(AreaResource, 16 << 20);
    SetMagickResourceLimit(MemoryResource, 64 << 20);
    SetMagickResourceLimit(MapResource, 128 << 20);
    SetMagickResourceLimit(DiskResource, 256 << 20);
    SetMagickResourceLimit(ListLengthResource, 64);
    signal(SIGALRM, on_alarm);

    std::map<std::string, std::vector<std::string>> by_format;  // extension -> seed files
    for (const std::string& n : entries(seeds)) {
        auto dot = n.rfind('.');
        if (dot != std::string::npos) by_format[n.substr(dot + 1)].push_back(seeds + "/" + n);
    }
    const char* outputs[] = {"png:", "jpg:", "jp2:"};
    std::mt19937 rng(random_seed);
    int failures = 0;
    for (auto& [ext, files] : by_format) {
        int decoded = 0;
        for (int k = 0; k < per_format; ++k) {
            const std::string& seed_file = files[static_cast<size_t>(k) % files.size()];
            const Bytes seed = slurp(seed_file);
            const std::string input = work + "/case." + ext;
            spit(input, mutate(seed, rng, ext == "png"));
            const std::string name = seed_file + " #" + std::to_string(k);
            g_case = name.c_str();
            const std::string out = std::string(outputs[k % 3]) + work + "/out";
            alarm(30);
            int rc = run_case(input, {input, "-resize", "50%", out});
            alarm(0);
            if (rc == 0) ++decoded;
            if (rc != 0 && access((work + "/out").c_str(), F_OK) == 0) {
                std::fprintf(stderr, "fuzz: %s failed (exit %d) but left an output\n", name.c_str(), rc);
                ++failures;
            }
            std::remove((work + "/out").c_str());
            std::remove(input.c_str());
            for (const std::string& left : entries(work))
                if (left != "tmp") {
                    std::fprintf(stderr, "fuzz: %s left %s behind\n", name.c_str(), left.c_str());
                    ++failures;
                }
            if (!entries(tmp).empty()) {
                std::fprintf(stderr, "fuzz: %s left a temporary file behind\n", name.c_str());
                ++failures;
            }
        }
        std::printf("fuzz: %s: %d mutated cases from %zu seeds, %d decoded and written, 0 crashes, 0 hangs\n",
                    ext.c_str(), per_format, files.size(), decoded);
    }
    mtool::magick::terminate();
    std::printf("fuzz: %d leftover-file failures\n", failures);
    return failures == 0 ? 0 : 1;
}
