#include "util/strconv.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace nemu {

std::optional<uint64_t> parse_uint64(std::string_view s) {
    if (s.empty() || s[0] == '-' || s[0] == '+' || s[0] == ' ') return std::nullopt;
    std::string str(s);
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(str.c_str(), &end, 0);
    if (errno || end != str.c_str() + str.size()) return std::nullopt;
    return v;
}

std::optional<int64_t> parse_int64(std::string_view s) {
    if (s.empty() || s[0] == ' ') return std::nullopt;
    std::string str(s);
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(str.c_str(), &end, 0);
    if (errno || end != str.c_str() + str.size()) return std::nullopt;
    return v;
}

static int suffix_shift(char c) {
    switch (c) {
    case 'b': case 'B': return 0;
    case 'k': case 'K': return 10;
    case 'm': case 'M': return 20;
    case 'g': case 'G': return 30;
    case 't': case 'T': return 40;
    case 'p': case 'P': return 50;
    case 'e': case 'E': return 60;
    default: return -1;
    }
}

std::optional<uint64_t> parse_size(std::string_view s, char default_suffix) {
    if (s.empty() || !((s[0] >= '0' && s[0] <= '9') || s[0] == '.')) return std::nullopt;
    // Hex is accepted only without a fraction (QEMU rejects "0x1.8G").
    std::string str(s);
    char* end = nullptr;
    errno = 0;
    bool hex = str.size() > 2 && str[0] == '0' && (str[1] == 'x' || str[1] == 'X');
    uint64_t whole = std::strtoull(str.c_str(), &end, 0);
    if (errno) return std::nullopt;
    double fraction = 0;
    if (!hex && *end == '.') {
        char* fend = nullptr;
        fraction = std::strtod(end, &fend);
        if (fend == end + 1) return std::nullopt;  // "1." without digits
        end = fend;
    }
    std::string_view rest(end);
    int shift = suffix_shift(default_suffix ? default_suffix : 'B');
    if (!rest.empty()) {
        if (rest.size() != 1 || (shift = suffix_shift(rest[0])) < 0) return std::nullopt;
    }
    if (fraction > 0 && shift == 0) return std::nullopt;  // fractional bytes make no sense
    if (shift > 0 && whole > (UINT64_MAX >> shift)) return std::nullopt;
    long double total = static_cast<long double>(whole) * std::ldexp(1.0L, shift) +
                        static_cast<long double>(fraction) * std::ldexp(1.0L, shift);
    if (total >= std::ldexp(1.0L, 64)) return std::nullopt;
    return static_cast<uint64_t>(total);
}

} // namespace nemu
