#include <doctest/doctest.h>

#include "src/exec/executor.h"

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
