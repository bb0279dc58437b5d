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
