#include "accel/qtest/qtest_codec.h"

namespace nemu::qtest {

namespace {
int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<uint64_t> parse_magnitude(std::string_view s) {
    unsigned base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    } else if (s.size() > 1 && s[0] == '0') {
        base = 8;
        s.remove_prefix(1);
    }
    if (s.empty()) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        int d = digit_value(c);
        if (d < 0 || unsigned(d) >= base) return std::nullopt;
        if (v > (UINT64_MAX - unsigned(d)) / base) return std::nullopt;
        v = v * base + unsigned(d);
    }
    return v;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
} // namespace

std::optional<uint64_t> parse_u64(std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    auto v = parse_magnitude(s);
    if (!v) return std::nullopt;
    return neg ? uint64_t(0) - *v : *v;
}

std::optional<int64_t> parse_i64(std::string_view s) {
    bool neg = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    auto v = parse_magnitude(s);
    if (!v) return std::nullopt;
    if (neg) {
        if (*v > uint64_t(INT64_MAX) + 1) return std::nullopt;
        return static_cast<int64_t>(uint64_t(0) - *v);
    }
    if (*v > uint64_t(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(*v);
}

std::string hex_encode(const uint8_t* data, size_t len) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (size_t i = 0; i < len; i++) {
        out += kDigits[data[i] >> 4];
        out += kDigits[data[i] & 15];
    }
    return out;
}

std::optional<std::vector<uint8_t>> hex_decode_padded(std::string_view s, size_t len) {
    if (s.size() < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return std::nullopt;
    s.remove_prefix(2);
    if (s.size() % 2 != 0) return std::nullopt;
    std::vector<uint8_t> out(len, 0);
    for (size_t i = 0; i < s.size() / 2; i++) {
        int hi = digit_value(s[2 * i]), lo = digit_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        if (i < len) out[i] = uint8_t(hi << 4 | lo);
    }
    return out;
}

std::string base64_encode(const uint8_t* data, size_t len) {
    std::string out;
    out.reserve((len + 2) / 3 * 4);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = uint32_t(data[i]) << 16;
        if (i + 1 < len) v |= uint32_t(data[i + 1]) << 8;
        if (i + 2 < len) v |= data[i + 2];
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += i + 1 < len ? kB64[(v >> 6) & 63] : '=';
        out += i + 2 < len ? kB64[v & 63] : '=';
    }
    return out;
}

std::optional<std::vector<uint8_t>> base64_decode(std::string_view s) {
    while (!s.empty() && s.back() == '=') s.remove_suffix(1);
    if (s.size() % 4 == 1) return std::nullopt;
    std::vector<uint8_t> out;
    out.reserve(s.size() / 4 * 3 + 2);
    uint32_t acc = 0;
    unsigned bits = 0;
    for (char c : s) {
        int v = b64_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | unsigned(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(uint8_t(acc >> bits));
        }
    }
    return out;
}

} // namespace nemu::qtest
