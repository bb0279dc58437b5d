#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "src/core/magick.h"

int main(int argc, char** argv) {
    mtool::magick::initialize(argv[0]);
    doctest::Context ctx(argc, argv);
    return ctx.run();
}
