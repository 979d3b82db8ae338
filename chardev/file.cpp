// chardev-file: output to a file, truncated unless append=on (QEMU chardev/char-file.c,
// "out" side only). A FIFO as the path works too: output is buffered like a socket's.

#include <fcntl.h>

#include <cerrno>

#include "chardev/backends.h"
#include "chardev/chardev.h"
#include "chardev/fd_stream.h"
#include "qom/type_registry.h"
#include "util/event_loop.h"

namespace nemu::chardev {

namespace {
class FileChardev final : public Chardev {
public:
    Result<size_t> write(std::span<const uint8_t> data) override {
        if (!m_stream) return data.size();
        return m_stream->write(data);
    }
    std::string filename() const override { return "file"; }

protected:
    Result<> open_backend(const ChardevOptions& o) override {
        if (o.path.empty()) return fail("chardev: file: no filename given");
        int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.append ? O_APPEND : O_TRUNC);
        UniqueFd fd(::open(o.path.c_str(), flags, 0666));
        if (!fd) return fail_errno(fmt::format("Could not open '{}'", o.path), errno);
        FdStream::Callbacks cb;
        // A failed write (disk full, FIFO reader gone) ends the output; QEMU drops it too.
        cb.hangup = [this] { m_stream.reset(); };
        m_stream = TRY(FdStream::create(loop(), UniqueFd(), std::move(fd), std::move(cb)));
        set_connected(true);
        return {};
    }

private:
    std::unique_ptr<FdStream> m_stream;
};
} // namespace

void register_file_type(qom::TypeRegistry& registry) {
    qom::TypeInfo t;
    t.name = "chardev-file";
    t.parent = "chardev";
    t.create = [] { return std::make_unique<FileChardev>(); };
    registry.add(std::move(t));
}

} // namespace nemu::chardev
