// The process-wide tier manager takes its budgets from ImageMagick's resource limits: -limit
// (applied as a setting), policy.xml (searched like ImageMagick: MAGICK_CONFIGURE_PATH, the
// user's and the system configuration directories) and MAGICK_*_LIMIT all end up there, and the
// Magick bridge obeys the same values.
#include "cache/tiers.h"
#include "src/core/magick.h"

namespace mtool::cache {

namespace {
uint64_t limit(ResourceType t) {
    MagickSizeType v = GetMagickResourceLimit(t);
    return v == MagickResourceInfinity ? kUnlimited : static_cast<uint64_t>(v);
}
}  // namespace

TierManager& TierManager::global() {
    static TierManager manager([] {
        Budgets b;
        b.memory = limit(MemoryResource);
        b.map = limit(MapResource);
        b.disk = limit(DiskResource);
        b.width = limit(WidthResource);
        b.height = limit(HeightResource);
        b.area = limit(AreaResource);
        return b;
    });
    return manager;
}

}  // namespace mtool::cache
