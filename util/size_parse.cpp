// QEMU 7.2 number and size grammar. See size_parse.h for the messages and their sources.
#include "util/size_parse.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace nemu::cmdline {

namespace {

// Multiplier for a suffix letter (qemu_strtosz's suffix_mul), or 0 if it is not one.
uint64_t suffix_mul(char c) {
    switch (c) {
    case 'B': case 'b': return 1;
    case 'K': case 'k': return 1ULL << 10;
    case 'M': case 'm': return 1ULL << 20;
    case 'G': case 'g': return 1ULL << 30;
    case 'T': case 't': return 1ULL << 40;
    case 'P': case 'p': return 1ULL << 50;
    case 'E': case 'e': return 1ULL << 60;
    default: return 0;
    }
}

// strtoull on a NUL-terminated copy; returns the number of characters consumed
// (0 when nothing could be parsed).
SizeError raw_strtoull(const std::string& s, int base, uint64_t& out, size_t& used) {
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(s.c_str(), &end, base);
    used = static_cast<size_t>(end - s.c_str());
    if (used == 0) return SizeError::Invalid;
    out = v;
    return errno == ERANGE ? SizeError::Range : SizeError::None;
}

} // namespace

SizeError strtou64(std::string_view text, int base, uint64_t& out) {
    std::string s(text);
    size_t used = 0;
    uint64_t v = 0;
    SizeError e = raw_strtoull(s, base, v, used);
    if (e == SizeError::Invalid) return e;
    if (used != s.size()) return SizeError::Invalid; // trailing garbage beats range
    if (e == SizeError::Range) return e;
    out = v;
    return SizeError::None;
}

SizeError strtoi64(std::string_view text, int base, int64_t& out) {
    std::string s(text);
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, base);
    size_t used = static_cast<size_t>(end - s.c_str());
    if (used == 0 || used != s.size()) return SizeError::Invalid;
    if (errno == ERANGE) return SizeError::Range;
    out = v;
    return SizeError::None;
}

SizeError strtosz(std::string_view text, char default_suffix, uint64_t& out) {
    const std::string s(text);
    uint64_t val = 0;
    size_t pos = 0;
    SizeError e = raw_strtoull(s, 10, val, pos);
    if (e != SizeError::None) return e;
    if (std::memchr(s.data(), '-', pos) != nullptr) return SizeError::Invalid;
    uint64_t valf = 0; // fraction as 0.64 fixed point
    bool hex = false;
    if (val == 0 && pos < s.size() && (s[pos] == 'x' || s[pos] == 'X')) {
        hex = true;
        e = raw_strtoull(s, 16, val, pos);
        if (e != SizeError::None) return e;
        if (pos < s.size() && s[pos] == '.') return SizeError::Invalid;
    } else if (pos < s.size() && s[pos] == '.') {
        // "1.k" works without fraction digits; an exponent makes the whole input invalid.
        const char* f = s.c_str() + pos;
        char* fend = nullptr;
        errno = 0;
        double fraction = std::strtod(f, &fend);
        if (fend == f || errno != 0 || !std::isfinite(fraction)) {
            pos++;
        } else {
            if (std::memchr(f, 'e', fend - f) || std::memchr(f, 'E', fend - f)) {
                return SizeError::Invalid;
            }
            double scaled = fraction * 18446744073709551616.0;
            valf = scaled >= 18446744073709551615.0 ? UINT64_MAX : static_cast<uint64_t>(scaled);
            pos = static_cast<size_t>(fend - s.c_str());
        }
    }
    (void)hex; // QEMU only warns about "0x10M"; the value is the same
    uint64_t mul = pos < s.size() ? suffix_mul(s[pos]) : 0;
    if (mul > 0) {
        pos++;
    } else {
        mul = suffix_mul(default_suffix);
        if (mul == 0) mul = 1;
    }
    if (pos != s.size()) return SizeError::Invalid;
    if (mul == 1) {
        if (valf != 0) return SizeError::Invalid; // a fraction needs a scale
    } else {
        // Exact 64.64 x 64 product, rounding half up (QEMU 7.2 do_strtosz).
        unsigned __int128 whole = static_cast<unsigned __int128>(val) * mul;
        unsigned __int128 frac = static_cast<unsigned __int128>(valf) * mul;
        whole += frac >> 64;
        whole += (static_cast<uint64_t>(frac) >> 63);
        if (whole >> 64) return SizeError::Range;
        val = static_cast<uint64_t>(whole);
    }
    out = val;
    return SizeError::None;
}

Result<uint64_t> parse_size(std::string_view text, char default_suffix, std::string_view param) {
    uint64_t v = 0;
    switch (strtosz(text, default_suffix, v)) {
    case SizeError::None: return v;
    case SizeError::Range:
        return fail("Value '{}' is out of range for parameter '{}'", text, param);
    case SizeError::Invalid: break;
    }
    return fail("Parameter '{}' expects a non-negative number below 2^64", param);
}

Result<bool> parse_bool(std::string_view text, std::string_view param) {
    if (text == "on" || text == "yes" || text == "true" || text == "y") return true;
    if (text == "off" || text == "no" || text == "false" || text == "n") return false;
    return fail("Parameter '{}' expects 'on' or 'off'", param);
}

Result<uint64_t> parse_uint(std::string_view text, std::string_view param) {
    uint64_t v = 0;
    switch (strtou64(text, 0, v)) {
    case SizeError::None: return v;
    case SizeError::Range: return fail("Value '{}' is too large for parameter '{}'", text, param);
    case SizeError::Invalid: break;
    }
    return fail("Parameter '{}' expects a number", param);
}

Result<int64_t> parse_int(std::string_view text, std::string_view param) {
    int64_t v = 0;
    if (strtoi64(text, 0, v) != SizeError::None) {
        return fail("Parameter '{}' expects integer", param);
    }
    return v;
}

} // namespace nemu::cmdline
