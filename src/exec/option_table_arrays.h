// Included once per tool, inside its own namespace, with MTOOL_LINES naming the generated table
// (src/exec/*_lines.inc): makes its arrays kWhere, kArity, kChecks, kLines, kLetters, kFixed,
// each ending with a sentinel. No include guard on purpose.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define WHERE(l, s) {l, s},
#define ARITY(o, m, p)
#define CHECK(o, s, a, k, t, g, l)
#define LINE(o, g, l)
#define LETTER(c, l)
#define FIXED(g, i, l)
constexpr Where kWhere[] = {
#include MTOOL_LINES
};
#undef WHERE
#undef ARITY
#define WHERE(l, s)
#define ARITY(o, m, p) {o, m, p},
constexpr Arity kArity[] = {
#include MTOOL_LINES
    {nullptr, 0, 0}};
#undef ARITY
#undef CHECK
#define ARITY(o, m, p)
#define CHECK(o, s, a, k, t, g, l) {o, s, a, Kind::k, t, g, l},
constexpr Check kChecks[] = {
#include MTOOL_LINES
    {nullptr, '*', 0, Kind::Geometry, MagickUndefinedOptions, nullptr, 0}};
#undef CHECK
#undef LINE
#define CHECK(o, s, a, k, t, g, l)
#define LINE(o, g, l) {o, g, l},
constexpr Line kLines[] = {
#include MTOOL_LINES
    {nullptr, nullptr, 0}};
#undef LINE
#undef LETTER
#define LINE(o, g, l)
#define LETTER(c, l) {c, l},
constexpr Letter kLetters[] = {
#include MTOOL_LINES
    {0, 0}};
#undef LETTER
#undef FIXED
#define LETTER(c, l)
#define FIXED(g, i, l) {g, i, l},
constexpr Fixed kFixed[] = {
#include MTOOL_LINES
    {nullptr, 0, 0}};
#undef WHERE
#undef ARITY
#undef CHECK
#undef LINE
#undef LETTER
#undef FIXED
constexpr Table kTable = {kWhere[0], kArity, kChecks, kLines, kLetters, kFixed};
// NOLINTEND(bugprone-macro-parentheses)
