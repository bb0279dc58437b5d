#include <doctest/doctest.h>

#include "src/exec/executor.h"
#include "tests/unit/helpers.h"

using mtool::exec::parse_indexes;

TEST_CASE("index lists follow ImageMagick's syntax") {
    std::vector<size_t> idx;
    CHECK(parse_indexes("0", 3, idx));
    CHECK(idx == std::vector<size_t>{0});
    CHECK(parse_indexes("-1", 3, idx));
    CHECK(idx == std::vector<size_t>{2});
    CHECK(parse_indexes("0,2", 3, idx));
    CHECK(idx == std::vector<size_t>{0, 2});
    CHECK(parse_indexes("1--1", 4, idx));
    CHECK(idx == std::vector<size_t>{1, 2, 3});
    CHECK(parse_indexes("2-0", 3, idx));
    CHECK(idx == std::vector<size_t>{2, 1, 0});
    CHECK_FALSE(parse_indexes("5", 3, idx));
    CHECK_FALSE(parse_indexes("x", 3, idx));
}

TEST_CASE("clone indexes keep what exists and report what does not, as CloneImages") {
    std::vector<size_t> idx;
    // One part matches nothing: reported, the rest kept.
    CHECK_FALSE(parse_indexes("0,5", 3, idx));
    CHECK(idx == std::vector<size_t>{0});
    // A range past the end is clamped to the length: its last step matches nothing, but the
    // range matched already, so nothing is reported.
    CHECK(parse_indexes("1-9", 3, idx));
    CHECK(idx == std::vector<size_t>{1, 2});
    // Too negative: nothing.
    CHECK_FALSE(parse_indexes("-4", 3, idx));
    CHECK(idx.empty());
}

TEST_CASE("delete indexes skip reversed ranges and missing images, as DeleteImages") {
    auto names = [](const std::vector<mtool::Image>& list) {
        std::string s;
        for (const auto& img : list) s += std::to_string(img.width());
        return s;
    };
    auto make = [] {
        std::vector<mtool::Image> list;
        for (int w = 6; w <= 9; ++w) list.push_back(test::plasma(w, 4, 8));
        return list;
    };
    auto list = make();
    mtool::exec::delete_indexes("1-0", list);
    CHECK(names(list) == "6789");
    list = make();
    mtool::exec::delete_indexes("0,7", list);
    CHECK(names(list) == "789");
    list = make();
    mtool::exec::delete_indexes("-1,1,1", list);
    CHECK(names(list) == "68");
    list = make();
    mtool::exec::delete_indexes("-2--1", list);
    CHECK(names(list) == "67");
}

TEST_CASE("a run that does not follow its plan is reported") {
    using mtool::exec::PlanEntry;
    using K = PlanEntry::Kind;
    const std::vector<PlanEntry> plan = {
        {K::read, 0, "a.jpg", "", "native", "", "", "JPEG", "", "640x480"},
        {K::step, 1, "-blur", "0x1", "native", "", "neighbourhood", "", "[0] 640x480", "640x480"},
        {K::step, 3, "-trim", "", "native", "", "whole-image", "", "[0] 640x480", "?<=640x480"},
        {K::write, 4, "o.png", "", mtool::exec::kEitherEngine, "pixels", "", "PNG", "?<=640x480", ""}};
    CHECK(mtool::exec::plan_differences(plan, plan).empty());
    std::vector<PlanEntry> ran = plan;
    ran[2].output = "600x400";      // a bound is not a prediction
    ran[3].engine = "ImageMagick";  // the pixels decided
    ran[3].input = "600x400";
    CHECK(mtool::exec::plan_differences(plan, ran).empty());
    ran[1].engine = "ImageMagick";
    ran[1].reason = "declined when run: alpha";
    auto d = mtool::exec::plan_differences(plan, ran);
    REQUIRE(d.size() == 1);
    CHECK(d[0] == "#1 -blur: planned native, ran ImageMagick (declined when run: alpha)");
    ran = plan;
    ran[0].output = "146x112";
    d = mtool::exec::plan_differences(plan, ran);
    REQUIRE(d.size() == 1);
    CHECK(d[0] == "#0 a.jpg: planned 640x480, gave 146x112");
    ran = plan;
    ran.pop_back();
    d = mtool::exec::plan_differences(plan, ran);
    REQUIRE(d.size() == 1);
    CHECK(d[0].rfind("planned, not run: #4 write 'o.png'", 0) == 0);
    ran = plan;
    ran[2].what = "-negate";
    d = mtool::exec::plan_differences(plan, ran);
    REQUIRE(d.size() == 1);
    CHECK(d[0].rfind("planned #3 -trim", 0) == 0);
}
