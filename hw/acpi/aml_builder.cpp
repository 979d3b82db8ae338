// AML encodings from ACPI 6.5 chapter 20 (section numbers below refer to it unless noted) and
// resource descriptors from ACPI 6.5 §6.4.
#include "hw/acpi/aml_builder.h"

#include "hw/acpi/acpi_tables.h"

namespace nemu::acpi::aml {

namespace {

// Opcodes (§20.3, Table 20.1).
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kOnesOp = 0xFF;
constexpr uint8_t kNameOp = 0x08, kBytePrefix = 0x0A, kWordPrefix = 0x0B, kDWordPrefix = 0x0C;
constexpr uint8_t kStringPrefix = 0x0D, kQWordPrefix = 0x0E;
constexpr uint8_t kScopeOp = 0x10, kBufferOp = 0x11, kPackageOp = 0x12, kMethodOp = 0x14;
constexpr uint8_t kDualNamePrefix = 0x2E, kMultiNamePrefix = 0x2F;
constexpr uint8_t kExtOpPrefix = 0x5B, kRootChar = 0x5C, kParentPrefixChar = 0x5E;
constexpr uint8_t kOpRegionOp = 0x80, kFieldOp = 0x81, kDeviceOp = 0x82;  // after ExtOpPrefix
constexpr uint8_t kLocal0Op = 0x60, kArg0Op = 0x68;
constexpr uint8_t kStoreOp = 0x70, kAndOp = 0x7B, kOrOp = 0x7D, kNotifyOp = 0x86;
constexpr uint8_t kLNotOp = 0x92, kLEqualOp = 0x93;
constexpr uint8_t kIfOp = 0xA0, kElseOp = 0xA1, kReturnOp = 0xA4;
constexpr uint8_t kEndTag = 0x79;  // small resource End Tag, length 1 (§6.4.2.9)

constexpr uint64_t kMaxPkgLength = (1u << 28) - 1;  // 4 bits + 3 bytes (§20.2.4)

void append_le(std::vector<uint8_t>& out, uint64_t value, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

std::vector<uint8_t> concat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

bool is_lead_name_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_lead_name_char(c) || (c >= '0' && c <= '9'); }

// One NameSeg (§20.2.2): a lead char and up to three name chars, padded with '_'.
Result<> append_name_seg(std::vector<uint8_t>& out, std::string_view seg, std::string_view path) {
    if (seg.empty() || seg.size() > 4 || !is_lead_name_char(seg[0]))
        return fail("invalid AML name segment '{}' in '{}'", seg, path);
    for (char c : seg) {
        if (!is_name_char(c)) return fail("invalid AML name segment '{}' in '{}'", seg, path);
        out.push_back(static_cast<uint8_t>(c));
    }
    for (size_t i = seg.size(); i < 4; ++i) out.push_back('_');
    return {};
}

// A node that is finished bytes or, if `r` failed, an encode() error.
Aml leaf_or_error(Result<std::vector<uint8_t>> r) {
    if (!r) return Aml::invalid(std::move(r).error().msg);
    return Aml::raw(std::move(*r));
}

// A container whose fixed part starts with a NameString.
Aml named_container(std::vector<uint8_t> head, std::string_view path, std::vector<uint8_t> extra,
                    std::vector<Aml> body) {
    auto name = name_string_bytes(path);
    if (!name) return Aml::invalid(std::move(name).error().msg);
    return Aml::node(Aml::Kind::Container, std::move(head), concat(std::move(*name), extra),
                     std::move(body));
}

// An opcode followed by its operands, as a Sequence node.
template <class... Ops> Aml seq(std::vector<uint8_t> head, Ops... operands) {
    Aml out;
    out.add(Aml::raw(std::move(head)));
    (out.add(std::move(operands)), ...);
    return out;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

} // namespace

// --- Aml node --------------------------------------------------------------------------------

Aml Aml::raw(std::vector<uint8_t> bytes) {
    Aml a;
    a.m_kind = Kind::Leaf;
    a.m_head = std::move(bytes);
    return a;
}

Aml Aml::invalid(std::string msg) {
    Aml a;
    a.m_kind = Kind::Leaf;
    a.m_error = std::move(msg);
    return a;
}

Aml Aml::node(Kind kind, std::vector<uint8_t> head, std::vector<uint8_t> fixed,
              std::vector<Aml> children) {
    Aml a;
    a.m_kind = kind;
    a.m_head = std::move(head);
    a.m_fixed = std::move(fixed);
    a.m_children = std::move(children);
    return a;
}

Aml& Aml::add(Aml child) {
    if (m_kind == Kind::Leaf) {
        if (m_error.empty()) m_error = "AML: cannot add a child to a leaf term";
        return *this;
    }
    m_children.push_back(std::move(child));
    return *this;
}

Aml& Aml::add(std::vector<Aml> children) {
    for (auto& c : children) add(std::move(c));
    return *this;
}

Result<std::vector<uint8_t>> Aml::encode() const {
    std::vector<uint8_t> out;
    TRY(encode_into(out));
    return out;
}

Result<> Aml::encode_into(std::vector<uint8_t>& out) const {
    if (!m_error.empty()) return fail("{}", m_error);
    switch (m_kind) {
    case Kind::Leaf:
        out.insert(out.end(), m_head.begin(), m_head.end());
        return {};
    case Kind::Sequence:
        for (const auto& c : m_children) TRY(c.encode_into(out));
        return {};
    case Kind::Container:
    case Kind::Package: {
        std::vector<uint8_t> body = m_fixed;
        if (m_kind == Kind::Package) {
            // NumElements is a single byte (§20.2.5.4 DefPackage); VarPackage is not needed.
            if (m_children.size() > 255) return fail("AML Package has more than 255 elements");
            body.push_back(static_cast<uint8_t>(m_children.size()));
        }
        for (const auto& c : m_children) TRY(c.encode_into(body));
        auto len = TRY(pkg_length(body.size()));
        out.insert(out.end(), m_head.begin(), m_head.end());
        out.insert(out.end(), len.begin(), len.end());
        out.insert(out.end(), body.begin(), body.end());
        return {};
    }
    }
    return fail("AML: unknown node kind");
}

// --- Encodings --------------------------------------------------------------------------------

Result<std::vector<uint8_t>> pkg_length_raw(uint64_t value) {
    // §20.2.4: one byte holds 0..63 in bits 0-5. Otherwise bits 7-6 of the lead byte count the
    // following bytes (1-3), bits 3-0 hold the low nibble and each following byte the next 8 bits.
    if (value > kMaxPkgLength) return fail("AML PkgLength {} exceeds 2^28 - 1", value);
    if (value < 64) return std::vector<uint8_t>{static_cast<uint8_t>(value)};
    unsigned follow = value < (1u << 12) ? 1 : value < (1u << 20) ? 2 : 3;
    std::vector<uint8_t> out{static_cast<uint8_t>((follow << 6) | (value & 0x0F))};
    append_le(out, value >> 4, follow);
    return out;
}

Result<std::vector<uint8_t>> pkg_length(size_t body_len) {
    // The value counts the encoding's own bytes, so pick the smallest size that holds it.
    for (uint64_t n = 1; n <= 4; ++n) {
        uint64_t total = body_len + n;
        uint64_t limit = n == 1 ? 63 : (uint64_t{1} << (4 + 8 * (n - 1))) - 1;
        if (total <= limit) return pkg_length_raw(total);
    }
    return fail("AML PkgLength {} exceeds 2^28 - 1", body_len);
}

Result<std::vector<uint8_t>> name_string_bytes(std::string_view path) {
    std::vector<uint8_t> out;
    std::string_view rest = path;
    if (!rest.empty() && rest[0] == '\\') {
        out.push_back(kRootChar);
        rest.remove_prefix(1);
    } else {
        while (!rest.empty() && rest[0] == '^') {
            out.push_back(kParentPrefixChar);
            rest.remove_prefix(1);
        }
    }
    std::vector<std::string_view> segs;
    while (!rest.empty()) {
        size_t dot = rest.find('.');
        segs.push_back(rest.substr(0, dot));
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
        if (rest.empty()) return fail("invalid AML name '{}'", path);
    }
    if (segs.empty()) {
        // "\" alone is the root (RootChar NullName); "" or "^" name nothing.
        if (out.empty() || out[0] != kRootChar) return fail("invalid AML name '{}'", path);
        out.push_back(0x00);
        return out;
    }
    if (segs.size() > 255) return fail("AML name '{}' has too many segments", path);
    if (segs.size() == 2) out.push_back(kDualNamePrefix);
    if (segs.size() > 2) {
        out.push_back(kMultiNamePrefix);
        out.push_back(static_cast<uint8_t>(segs.size()));
    }
    for (auto s : segs) TRY(append_name_seg(out, s, path));
    return out;
}

Result<uint32_t> eisa_id_value(std::string_view id) {
    // Three uppercase letters in 5 bits each ('A' = 1), then four hex digits; stored so that the
    // little-endian bytes read: [l1<<2 | l2>>3] [l2<<5 | l3] [d0d1] [d2d3] (ACPI 6.5 §19.6.35).
    auto hex = [](char c) { return c >= 'a' ? -1 : hex_digit(c); };  // uppercase, as ASL writes them
    bool ok = id.size() == 7;
    for (size_t i = 0; ok && i < 3; ++i) ok = id[i] >= 'A' && id[i] <= 'Z';
    for (size_t i = 3; ok && i < 7; ++i) ok = hex(id[i]) >= 0;
    if (!ok) return fail("invalid EISA id '{}'", id);
    uint32_t l1 = id[0] - 0x40, l2 = id[1] - 0x40, l3 = id[2] - 0x40;
    uint32_t b0 = (l1 << 2) | (l2 >> 3);
    uint32_t b1 = ((l2 & 7) << 5) | l3;
    uint32_t b2 = (hex(id[3]) << 4) | hex(id[4]);
    uint32_t b3 = (hex(id[5]) << 4) | hex(id[6]);
    return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
}

// --- Data objects -----------------------------------------------------------------------------

Aml zero() { return Aml::raw({kZeroOp}); }
Aml one() { return Aml::raw({kOneOp}); }
Aml ones() { return Aml::raw({kOnesOp}); }

namespace {
Aml prefixed_const(uint8_t prefix, uint64_t v, unsigned bytes) {
    std::vector<uint8_t> b{prefix};
    append_le(b, v, bytes);
    return Aml::raw(std::move(b));
}
} // namespace

Aml byte_const(uint8_t v) { return prefixed_const(kBytePrefix, v, 1); }
Aml word_const(uint16_t v) { return prefixed_const(kWordPrefix, v, 2); }
Aml dword_const(uint32_t v) { return prefixed_const(kDWordPrefix, v, 4); }
Aml qword_const(uint64_t v) { return prefixed_const(kQWordPrefix, v, 8); }

Aml integer(uint64_t v) {
    if (v == 0) return zero();
    if (v == 1) return one();
    if (v == ~uint64_t{0}) return ones();
    if (v <= 0xFF) return byte_const(static_cast<uint8_t>(v));
    if (v <= 0xFFFF) return word_const(static_cast<uint16_t>(v));
    if (v <= 0xFFFFFFFF) return dword_const(static_cast<uint32_t>(v));
    return qword_const(v);
}

Aml string(std::string_view s) {
    std::vector<uint8_t> b{kStringPrefix};
    for (char c : s) {
        // AsciiCharList is 0x01-0x7F (§20.2.3).
        if (c <= 0) return Aml::invalid(fmt::format("AML string '{}' has a non-ASCII or NUL byte", s));
        b.push_back(static_cast<uint8_t>(c));
    }
    b.push_back(0x00);
    return Aml::raw(std::move(b));
}

Aml eisa_id(std::string_view id) {
    auto v = eisa_id_value(id);
    if (!v) return Aml::invalid(std::move(v).error().msg);
    return dword_const(*v);
}

Aml buffer(std::span<const uint8_t> bytes) {
    // DefBuffer := BufferOp PkgLength BufferSize ByteList (§20.2.5.4). Encoded at once into a
    // leaf: a buffer's contents are bytes, not terms that could be added later.
    std::vector<uint8_t> fixed = *integer(bytes.size()).encode();  // an integer never fails
    fixed.insert(fixed.end(), bytes.begin(), bytes.end());
    return leaf_or_error(Aml::node(Aml::Kind::Container, {kBufferOp}, std::move(fixed), {}).encode());
}

Aml to_uuid(std::string_view uuid) {
    // 8-4-4-4-12 hex digits. The first three groups are stored little-endian, the last two in
    // string order (ACPI 6.5 §19.6.142 ToUUID).
    static constexpr int kOrder[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    std::vector<uint8_t> parsed;
    for (size_t i = 0; i < uuid.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (uuid[i] != '-') break;
            ++i;
            continue;
        }
        if (i + 1 >= uuid.size()) break;
        int hi = hex_digit(uuid[i]), lo = hex_digit(uuid[i + 1]);
        if (hi < 0 || lo < 0) break;
        parsed.push_back(static_cast<uint8_t>(hi << 4 | lo));
        i += 2;
    }
    if (uuid.size() != 36 || parsed.size() != 16)
        return Aml::invalid(fmt::format("invalid UUID '{}'", uuid));
    std::vector<uint8_t> out(16);
    for (size_t i = 0; i < 16; ++i) out[i] = parsed[kOrder[i]];
    return buffer(out);
}

Aml package(std::vector<Aml> elements) {
    return Aml::node(Aml::Kind::Package, {kPackageOp}, {}, std::move(elements));
}

Aml name_ref(std::string_view path) { return leaf_or_error(name_string_bytes(path)); }

// --- Named objects ------------------------------------------------------------------------------

Aml name(std::string_view path, Aml value) {
    return seq({kNameOp}, name_ref(path), std::move(value));
}

Aml scope(std::string_view path, std::vector<Aml> body) {
    return named_container({kScopeOp}, path, {}, std::move(body));
}

Aml device(std::string_view path, std::vector<Aml> body) {
    return named_container({kExtOpPrefix, kDeviceOp}, path, {}, std::move(body));
}

Aml method(std::string_view path, unsigned args, bool serialized, std::vector<Aml> body) {
    // MethodFlags (§20.2.5.2): bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel.
    if (args > 7) return Aml::invalid(fmt::format("AML method '{}' has more than 7 arguments", path));
    uint8_t flags = static_cast<uint8_t>(args | (serialized ? 0x08 : 0x00));
    return named_container({kMethodOp}, path, {flags}, std::move(body));
}

Aml operation_region(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length) {
    // DefOpRegion := OpRegionOp NameString RegionSpace RegionOffset RegionLen (no PkgLength).
    return seq({kExtOpPrefix, kOpRegionOp}, name_ref(path), Aml::raw({static_cast<uint8_t>(space)}),
               integer(offset), integer(length));
}

Aml field(std::string_view region, FieldAccess access, FieldLock lock, FieldUpdate update,
          std::vector<Aml> units) {
    // FieldFlags (§20.2.5.2): bits 0-3 AccessType, bit 4 LockRule, bits 5-6 UpdateRule.
    uint8_t flags = static_cast<uint8_t>(static_cast<uint8_t>(access) |
                                         (static_cast<uint8_t>(lock) << 4) |
                                         (static_cast<uint8_t>(update) << 5));
    return named_container({kExtOpPrefix, kFieldOp}, region, {flags}, std::move(units));
}

Aml field_unit(std::string_view name_seg, uint32_t bits) {
    // NamedField := NameSeg FieldLength; the length uses PkgLength's format (§20.2.5.2).
    std::vector<uint8_t> out;
    if (name_seg.find('.') != std::string_view::npos || name_seg.find('\\') != std::string_view::npos)
        return Aml::invalid(fmt::format("AML field name '{}' is not a NameSeg", name_seg));
    if (auto r = append_name_seg(out, name_seg, name_seg); !r) return Aml::invalid(r.error().msg);
    auto len = pkg_length_raw(bits);
    if (!len) return Aml::invalid(std::move(len).error().msg);
    return Aml::raw(concat(std::move(out), *len));
}

Aml field_reserved(uint32_t bits) {
    // ReservedField := 0x00 FieldLength.
    auto len = pkg_length_raw(bits);
    if (!len) return Aml::invalid(std::move(len).error().msg);
    return Aml::raw(concat({0x00}, *len));
}

// --- Expressions and statements ---------------------------------------------------------------

Aml local(unsigned n) {
    if (n > 7) return Aml::invalid(fmt::format("AML Local{} does not exist", n));
    return Aml::raw({static_cast<uint8_t>(kLocal0Op + n)});
}

Aml arg(unsigned n) {
    if (n > 6) return Aml::invalid(fmt::format("AML Arg{} does not exist", n));
    return Aml::raw({static_cast<uint8_t>(kArg0Op + n)});
}

Aml store(Aml value, Aml target) { return seq({kStoreOp}, std::move(value), std::move(target)); }

// Target := SuperName | NullName (§20.2.5.4); an empty node means NullName.
Aml and_(Aml a, Aml b, Aml target) {
    if (target.is_empty()) target = Aml::raw({0x00});
    return seq({kAndOp}, std::move(a), std::move(b), std::move(target));
}
Aml or_(Aml a, Aml b, Aml target) {
    if (target.is_empty()) target = Aml::raw({0x00});
    return seq({kOrOp}, std::move(a), std::move(b), std::move(target));
}

Aml lequal(Aml a, Aml b) { return seq({kLEqualOp}, std::move(a), std::move(b)); }
Aml lnot(Aml a) { return seq({kLNotOp}, std::move(a)); }
Aml notify(Aml object, Aml value) { return seq({kNotifyOp}, std::move(object), std::move(value)); }
Aml return_(Aml value) { return seq({kReturnOp}, std::move(value)); }

Aml if_(Aml predicate, std::vector<Aml> body) {
    // DefIfElse := IfOp PkgLength Predicate TermList; the predicate lives inside the PkgLength.
    Aml out = Aml::node(Aml::Kind::Container, {kIfOp}, {}, {});
    out.add(std::move(predicate));
    out.add(std::move(body));
    return out;
}

Aml else_(std::vector<Aml> body) {
    return Aml::node(Aml::Kind::Container, {kElseOp}, {}, std::move(body));
}

// --- Resource templates (ACPI 6.5 §6.4) --------------------------------------------------------

Resource io_decode16(uint16_t min, uint16_t max, uint8_t align, uint8_t length) {
    // I/O Port Descriptor (§6.4.2.5): tag 0x47 (type 8, length 7), information bit 0 = 16-bit decode.
    Resource r{0x47, 0x01};
    append_le(r, min, 2);
    append_le(r, max, 2);
    r.push_back(align);
    r.push_back(length);
    return r;
}

Resource irq_no_flags(uint8_t irq) {
    // IRQ Descriptor (§6.4.2.1), the 2-byte form: tag 0x22 (type 4, length 2) and a 16-bit mask.
    // Without the flags byte the IRQ is edge-triggered, active high, exclusive. An irq above 15
    // cannot be expressed; the mask stays 0 and the caller validates its input.
    Resource r{0x22};
    append_le(r, irq < 16 ? (1u << irq) : 0, 2);
    return r;
}

Resource interrupt(Trigger trigger, Polarity polarity, Sharing sharing,
                   std::span<const uint32_t> gsis, bool consumer) {
    // Extended Interrupt Descriptor (§6.4.3.6): tag 0x89, 16-bit length, flags (bit 0 consumer,
    // bit 1 edge, bit 2 active low, bit 3 shared), count, then one DWord per interrupt.
    size_t n = gsis.size() > 255 ? 255 : gsis.size();
    Resource r{0x89};
    append_le(r, 2 + 4 * n, 2);
    r.push_back(static_cast<uint8_t>((consumer ? 1 : 0) | (static_cast<uint8_t>(trigger) << 1) |
                                     (static_cast<uint8_t>(polarity) << 2) |
                                     (static_cast<uint8_t>(sharing) << 3)));
    r.push_back(static_cast<uint8_t>(n));
    for (size_t i = 0; i < n; ++i) append_le(r, gsis[i], 4);
    return r;
}

Resource memory32_fixed(uint32_t base, uint32_t length, bool read_write) {
    // 32-Bit Fixed Memory Range Descriptor (§6.4.3.4): tag 0x86, length 9, info bit 0 = RW.
    Resource r{0x86, 0x09, 0x00, static_cast<uint8_t>(read_write ? 1 : 0)};
    append_le(r, base, 4);
    append_le(r, length, 4);
    return r;
}

namespace {
// Address Space Descriptor common part (§6.4.3.5): resource type 0 = memory; general flags bit 0
// consumer, bit 1 subtractive decode, bit 2 MinFixed, bit 3 MaxFixed; memory type-specific
// flags bit 0 RW, bits 1-2 cacheability.
Resource address_space_memory(uint8_t tag, unsigned field_bytes, const AddressSpace& a) {
    Resource r{tag};
    append_le(r, 3 + 5 * field_bytes, 2);
    r.push_back(0x00);
    r.push_back(static_cast<uint8_t>((a.producer ? 0 : 1) | (a.subtractive ? 2 : 0) |
                                     (a.min_fixed ? 4 : 0) | (a.max_fixed ? 8 : 0)));
    r.push_back(static_cast<uint8_t>((a.read_write ? 1 : 0) | (static_cast<uint8_t>(a.cacheable) << 1)));
    for (uint64_t v : {a.granularity, a.min, a.max, a.translation, a.length}) append_le(r, v, field_bytes);
    return r;
}
} // namespace

Result<Resource> dword_memory(const AddressSpace& a) {
    for (uint64_t v : {a.granularity, a.min, a.max, a.translation, a.length})
        if (v > 0xFFFFFFFF) return fail("DWordMemory field 0x{:x} does not fit 32 bits", v);
    return address_space_memory(0x87, 4, a);
}
Resource qword_memory(const AddressSpace& a) { return address_space_memory(0x8A, 8, a); }

Aml resource_template(std::vector<Resource> resources) {
    std::vector<uint8_t> bytes;
    for (const auto& r : resources) bytes.insert(bytes.end(), r.begin(), r.end());
    bytes.push_back(kEndTag);
    bytes.push_back(0x00);
    return buffer(bytes);
}

// --- Definition block ---------------------------------------------------------------------------

Result<std::vector<uint8_t>> definition_block(std::string_view signature, uint8_t revision,
                                              const std::vector<Aml>& terms) {
    std::vector<uint8_t> body;
    for (const auto& t : terms) {
        auto bytes = TRY(t.encode());
        body.insert(body.end(), bytes.begin(), bytes.end());
    }
    return make_table(signature, revision, body);
}

} // namespace nemu::acpi::aml
