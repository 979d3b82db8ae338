#pragma once
// The one place that lists every QOM type registration (STYLE.md rule 6: explicit register_*()
// calls, no static constructors). A build switch that is off leaves its types out here.

namespace nemu::qom {
class TypeRegistry;
}

namespace nemu {
void register_all_types(qom::TypeRegistry& registry);
}
