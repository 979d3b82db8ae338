// memory-backend-file: guest RAM in a file, typically on hugetlbfs or a DAX device
// (QEMU 7.2 backends/hostmem-file.c; softmmu/physmem.c file_ram_open). mem-path names a
// file (opened, or created) or a directory (an unlinked temporary file inside it).
#include "backends/host_memory_backend.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nemu::backends {

namespace {

struct OpenedFile {
    UniqueFd fd;
    bool created = false;
};

Result<OpenedFile> open_backing_store(const std::string& path, std::string region_name, bool readonly) {
    for (;;) {
        OpenedFile f;
        f.fd.reset(::open(path.c_str(), (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC));
        if (f.fd) return f;
        if (errno == ENOENT) {
            f.fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
            if (f.fd) {
                f.created = true;
                return f;
            }
        } else if (errno == EISDIR) {
            // A directory: a private file in it, removed at once so it goes with the process.
            for (char& c : region_name)
                if (c == '/') c = '_';
            std::string name = fmt::format("{}/qemu_back_mem.{}.XXXXXX", path, region_name);
            f.fd.reset(::mkostemp(name.data(), O_CLOEXEC));
            if (f.fd) {
                ::unlink(name.c_str());
                return f;
            }
        }
        if (errno != EEXIST && errno != EINTR)
            return fail("can't open backing store {} for guest RAM: {}", path, std::strerror(errno));
        // EEXIST: someone created the file between the two opens; EINTR: again.
    }
}

class FileBackend : public HostMemoryBackend {
public:
    ~FileBackend() override {
        // discard-data=on: the contents are not worth writing back (QEMU MADV_REMOVE).
        if (m_discard_data && mapped()) (void)::madvise(host(), size(), MADV_REMOVE);
    }

    std::string m_mem_path;
    uint64_t m_align = 0;
    bool m_discard_data = false, m_readonly = false, m_pmem = false;

protected:
    Result<Allocation> allocate() override {
        if (m_mem_path.empty()) return fail("mem-path property not set");
        OpenedFile f = TRY(open_backing_store(m_mem_path, ram_block_name(), m_readonly));
        FdRamOptions o;
        o.align = m_align;
        o.shared = m_share;
        o.noreserve = !m_reserve;
        o.readonly = m_readonly;
        o.pmem = m_pmem;
        auto a = allocate_from_fd(std::move(f.fd), m_size, o);
        if (!a && f.created) ::unlink(m_mem_path.c_str());  // leave no file we made behind
        return a;
    }
};

std::vector<qom::PropertyDef> file_properties() {
    using qom::prop;
    using F = FileBackend;
    auto frozen = [](qom::PropertyDef d, std::string_view tail) {
        std::string msg = fmt::format("cannot change property '{}' of memory-backend-file{}", d.name, tail);
        return frozen_when_mapped(std::move(d), std::move(msg));
    };
    qom::PropertyDef align = prop("align", &F::m_align, std::optional<uint64_t>(0), {}, "int");
    align.text_type = "size";
    qom::PropertyDef discard = prop("discard-data", &F::m_discard_data, std::optional<bool>(false));
    discard.set_before_realize_only = false;
    qom::PropertyDef path = prop("mem-path", &F::m_mem_path, std::optional<std::string>(), {}, "string");
    path.text_type = "str";
    path.required = true;
    // QEMU's order (qom-list-properties), and its messages, some with a final period.
    return {
        frozen(prop("readonly", &F::m_readonly, std::optional<bool>(false)), "."),
        frozen(std::move(align), ""),
        frozen(prop("pmem", &F::m_pmem, std::optional<bool>(false)), "."),
        frozen(std::move(path), ""),
        discard,
    };
}

} // namespace

void register_file_backend(qom::TypeRegistry& registry) {
    registry.add(qom::TypeInfo{.name = "memory-backend-file", .parent = "memory-backend",
                               .properties = file_properties(),
                               .create = [] { return std::make_unique<FileBackend>(); }});
}

} // namespace nemu::backends
