#pragma once
// A small AML (ACPI Machine Language) builder: enough of ACPI 6.5 chapter 20 ("ACPI Machine
// Language Specification") and section 6.4 (resource data types) to write a DSDT.
//
// An Aml value is a node of a tree. Leaves hold finished bytes; containers (Scope, Device,
// Method, If, Else, Package, Field) hold a fixed part and children and compute their PkgLength
// when encoded, so children can still be added after creation (e.g. a PCI host adding its
// device to \_SB later). Errors in names or values (a NameSeg with a bad character, a
// 300-element Package) are carried inside the node and reported by encode(), so building
// stays expression-shaped and nothing aborts.
//
// Threading: plain values, used by whichever thread builds the tables (the main thread).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nemu::acpi::aml {

class Aml {
public:
    // Leaf: finished bytes. Sequence: children one after another (no opcode of its own).
    // Container: head, PkgLength, fixed part, children. Package: as Container, with
    // NumElements = number of children inserted before them at encode time.
    enum class Kind : uint8_t { Leaf, Sequence, Container, Package };

    // An empty sequence (encodes to nothing).
    Aml() = default;
    // Finished bytes, emitted as they are.
    static Aml raw(std::vector<uint8_t> bytes);
    // A fragment whose encoding fails with this message.
    static Aml invalid(std::string msg);
    // A node of any kind; the factory functions below are built on it.
    static Aml node(Kind kind, std::vector<uint8_t> head, std::vector<uint8_t> fixed,
                    std::vector<Aml> children);

    // Appends children to a container (Scope, Device, Method, If, Else, Package, Field) or to a
    // sequence. Adding to a leaf turns the node into an encode() error.
    Aml& add(Aml child);
    Aml& add(std::vector<Aml> children);

    // The AML bytes of this node and its subtree.
    [[nodiscard]] Result<std::vector<uint8_t>> encode() const;
    // True for a default-constructed node (an optional operand left out).
    bool is_empty() const { return m_kind == Kind::Sequence && m_children.empty() && m_error.empty(); }

private:
    Result<> encode_into(std::vector<uint8_t>& out) const;

    Kind m_kind = Kind::Sequence;
    std::vector<uint8_t> m_head;   // opcode(s) before the PkgLength (or all bytes of a leaf)
    std::vector<uint8_t> m_fixed;  // bytes after the PkgLength and before the children
    std::vector<Aml> m_children;
    std::string m_error;           // non-empty: encode() fails with it
};

// --- Encodings exposed for tests and for callers that emit raw bytes -----------------------

// PkgLength (ACPI 6.5 §20.2.4): `body_len` bytes follow the encoding, whose own 1-4 bytes are
// counted in the value. Fails above 2^28 - 1.
[[nodiscard]] Result<std::vector<uint8_t>> pkg_length(size_t body_len);
// The same 1-4 byte format carrying a plain value that does not count itself (FieldList
// element lengths in bits, §20.2.5.2).
[[nodiscard]] Result<std::vector<uint8_t>> pkg_length_raw(uint64_t value);
// NameString (§20.2.2): "\\_SB.COM1", "^^PCI0.S08_", "_HID", "\\". Segments shorter than 4
// characters are padded with '_' as ASL does.
[[nodiscard]] Result<std::vector<uint8_t>> name_string_bytes(std::string_view path);
// The compressed EISA id of "PNP0501" (3 letters + 4 hex digits) as a 32-bit value whose
// little-endian bytes are the encoded id (ACPI 6.5 §19.6.35, EISAID macro).
[[nodiscard]] Result<uint32_t> eisa_id_value(std::string_view id);

// --- Data objects (§20.2.3) -----------------------------------------------------------------

Aml zero();
Aml one();
Aml ones();
// The shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set), Byte/Word/DWord/QWordConst.
Aml integer(uint64_t value);
// Fixed-width encodings, when the size matters (e.g. a value patched later).
Aml byte_const(uint8_t value);
Aml word_const(uint16_t value);
Aml dword_const(uint32_t value);
Aml qword_const(uint64_t value);
// StringPrefix + ASCII + NUL; characters must be 0x01..0x7F.
Aml string(std::string_view s);
// EISAID("PNP0501") as a DWordConst (what iasl emits).
Aml eisa_id(std::string_view id);
// Buffer(){bytes}: BufferOp PkgLength BufferSize ByteList.
Aml buffer(std::span<const uint8_t> bytes);
// ToUUID("aabbccdd-eeff-gghh-iijj-kkllmmnnoopp") as a 16-byte Buffer, in the mixed-endian byte
// order of ACPI 6.5 §19.6.142.
Aml to_uuid(std::string_view uuid);
// Package(){...}: NumElements is the number of children at encode time (at most 255).
Aml package(std::vector<Aml> elements = {});
// A path used as a term (a reference to a named object).
Aml name_ref(std::string_view path);

// --- Named objects and namespace modifiers (§20.2.5) ----------------------------------------

Aml name(std::string_view path, Aml value);
Aml scope(std::string_view path, std::vector<Aml> body = {});
Aml device(std::string_view path, std::vector<Aml> body = {});
// Method(name, args, Serialized/NotSerialized); sync level 0.
Aml method(std::string_view path, unsigned args, bool serialized, std::vector<Aml> body = {});

enum class RegionSpace : uint8_t { SystemMemory = 0x00, SystemIO = 0x01 };
Aml operation_region(std::string_view path, RegionSpace space, uint64_t offset, uint64_t length);

enum class FieldAccess : uint8_t { Any = 0, Byte = 1, Word = 2, DWord = 3, QWord = 4 };
enum class FieldLock : uint8_t { NoLock = 0, Lock = 1 };
enum class FieldUpdate : uint8_t { Preserve = 0, WriteAsOnes = 1, WriteAsZeros = 2 };
// Field(region, access, lock, update) { children: field_unit() / field_reserved() }.
Aml field(std::string_view region, FieldAccess access, FieldLock lock, FieldUpdate update,
          std::vector<Aml> units = {});
Aml field_unit(std::string_view name_seg, uint32_t bits);
Aml field_reserved(uint32_t bits);  // Offset()/unnamed gap

// --- Expressions and statements (§20.2.5.3, §20.2.5.4) --------------------------------------

Aml local(unsigned n);  // Local0..Local7
Aml arg(unsigned n);    // Arg0..Arg6
Aml store(Aml value, Aml target);
// And(a, b, target); target defaults to NullName (result only used as a value).
Aml and_(Aml a, Aml b, Aml target = {});
Aml or_(Aml a, Aml b, Aml target = {});
Aml lequal(Aml a, Aml b);
Aml lnot(Aml a);
Aml notify(Aml object, Aml value);
Aml return_(Aml value);
Aml if_(Aml predicate, std::vector<Aml> body = {});
Aml else_(std::vector<Aml> body = {});

// --- Resource templates (ACPI 6.5 §6.4) ------------------------------------------------------
// Each returns the descriptor bytes; resource_template() wraps them in a Buffer with the End
// Tag (checksum 0, which §6.4.2.9 defines as "the checksum is valid").

using Resource = std::vector<uint8_t>;

// IO(Decode16, min, max, align, length) — §6.4.2.5.
Resource io_decode16(uint16_t min, uint16_t max, uint8_t align, uint8_t length);
// IRQNoFlags(){irq} — §6.4.2.1, 2-byte form (edge, active high, exclusive). irq < 16.
Resource irq_no_flags(uint8_t irq);
enum class Trigger : uint8_t { Level = 0, Edge = 1 };
enum class Polarity : uint8_t { ActiveHigh = 0, ActiveLow = 1 };
enum class Sharing : uint8_t { Exclusive = 0, Shared = 1 };
// Interrupt(ResourceConsumer, trigger, polarity, sharing){gsis...} — §6.4.3.6.
Resource interrupt(Trigger trigger, Polarity polarity, Sharing sharing,
                   std::span<const uint32_t> gsis, bool consumer = true);
// Memory32Fixed(ReadWrite|ReadOnly, base, length) — §6.4.3.4.
Resource memory32_fixed(uint32_t base, uint32_t length, bool read_write = true);

enum class Cacheable : uint8_t { NonCacheable = 0, Cacheable = 1, WriteCombining = 2, Prefetchable = 3 };
struct AddressSpace {  // the common fields of the Word/DWord/QWord address space descriptors
    bool producer = true;      // ResourceProducer (a bridge window) vs ResourceConsumer
    bool min_fixed = true;     // MinFixed
    bool max_fixed = true;     // MaxFixed
    bool subtractive = false;  // SubDecode vs PosDecode
    Cacheable cacheable = Cacheable::NonCacheable;
    bool read_write = true;
    uint64_t granularity = 0, min = 0, max = 0, translation = 0, length = 0;
};
// DWordMemory(...) — §6.4.3.5.2; fails if a field does not fit 32 bits.
[[nodiscard]] Result<Resource> dword_memory(const AddressSpace& a);
// QWordMemory(...) — §6.4.3.5.1.
Resource qword_memory(const AddressSpace& a);

// ResourceTemplate(){...} as a Buffer term (the value of a _CRS Name).
Aml resource_template(std::vector<Resource> resources);

// --- Definition block ------------------------------------------------------------------------
// DefinitionBlock("", signature, revision, "NEMU  ", "NEMUVIRT", 1): the table header (with
// checksum, from acpi_tables.h) followed by the AML of `terms`. Revision 2 makes integers
// 64-bit (§19.6.28).
[[nodiscard]] Result<std::vector<uint8_t>> definition_block(std::string_view signature,
                                                            uint8_t revision,
                                                            const std::vector<Aml>& terms);

} // namespace nemu::acpi::aml
