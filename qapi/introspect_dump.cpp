// Prints nemu's query-qmp-schema reply as JSON on stdout (used by
// gen/compare_introspection.py to compare against QEMU 7.2's).
#include <cstdio>

#include "qapi/qapi-introspect.h"

int main() {
    std::string_view text = nemu::qapi::qapi_introspection_text();
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
}
