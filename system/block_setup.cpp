// -blockdev and -drive into the Vm's BlockGraph (QEMU 7.2 blockdev.c drive_new/blockdev_init,
// block.c bdrv_open's raw-probing warning).
#include "system/block_setup.h"

#include <cstdio>

#include "block/block_format.h"
#include "block/block_open.h"
#include "system/vm.h"

namespace nemu {

namespace {

class VmIoErrors final : public block::IoErrorHost, public std::enable_shared_from_this<VmIoErrors> {
public:
    explicit VmIoErrors(Vm& vm) : m_vm(&vm), m_loop(vm.loop()) {}

    void io_error(const block::IoErrorReport& report) override {
        // From the device's home loop: the event and the stop belong to the main loop, in
        // this order (QEMU blk_error_action: BLOCK_IO_ERROR before STOP).
        m_loop.post([self = shared_from_this(), report] {
            if (!self->m_vm) return;
            emit_block_io_error(*self->m_vm, report);
            if (report.action == block::ErrorAction::Stop && self->m_vm->runstate().running())
                self->m_vm->stop_vm(RunState::IoError);
        });
    }

    std::shared_ptr<void> on_resume(std::function<void()> fn) override {
        if (!m_vm) return nullptr;
        return m_vm->runstate().add_change_handler([fn = std::move(fn)](bool running, RunState) {
            if (running) fn();
        });
    }

    void detach() override { m_vm = nullptr; }

private:
    Vm* m_vm;            // main loop only; null once the VM is going
    EventLoop& m_loop;   // outlives the VM (main() owns it)
};

} // namespace

std::shared_ptr<block::IoErrorHost> block_io_error_host(Vm& vm) {
    block::BlockGraph& graph = vm.block_graph();
    if (!graph.error_host()) graph.set_error_host(std::make_shared<VmIoErrors>(vm));
    return graph.error_host();
}

namespace {

Result<> open_drive(Vm& vm, const cmdline::DriveSpec& spec) {
    block::BlockGraph& graph = vm.block_graph();
    block::Drive d;
    d.name = spec.id.empty() ? graph.next_drive_name("none") : spec.id;
    if (graph.find_drive(d.name)) return fail("Duplicate ID '{}' for drive", d.name);
    d.options = spec.backend;
    d.options.error_host = block_io_error_host(vm);
    d.cache = spec.flags.cache;
    if (spec.file.empty()) {
        if (!spec.format_options.empty())
            return fail("Block format '{}' does not support the option '{}'",
                        spec.format.empty() ? "raw" : spec.format, spec.format_options.front().first);
    } else {
        if (!spec.format.empty() && !block::find_block_format(spec.format))
            return fail("Unknown driver '{}'", spec.format);
        // snapshot=on (blockdev.c drive_new, block.c bdrv_append_temp_snapshot): the image
        // read-only below a temporary qcow2 overlay that takes the guest's writes.
        block::OpenFlags flags = spec.flags;
        if (spec.snapshot) flags.read_only = true;
        d.root = TRY(block::open_image(spec.file, spec.format, flags));
        // QEMU hands the remaining keys to the format, which knows none nemu supports here.
        if (!spec.format_options.empty())
            return fail("Block format '{}' does not support the option '{}'", d.root->driver(),
                        spec.format_options.front().first);
        if (!spec.node_name.empty()) {
            if (graph.find_node(spec.node_name)) return fail("Duplicate nodes with node-name='{}'", spec.node_name);
            d.root->set_node_name(spec.node_name);
        }
        if (spec.format.empty() && d.root->driver() == "raw")
            // block.c bdrv_open_inherit: the warning QEMU prints for a probed raw image.
            // FIXME(#6): QEMU also refuses guest writes to sector 0 that would turn the image
            // into another format; nemu's raw driver has no such restriction yet.
            std::fprintf(stderr,
                         "WARNING: Image format was not specified for '%s' and probing guessed raw.\n"
                         "         Automatically detecting the format is dangerous for raw images, write "
                         "operations on block 0 will be restricted.\n"
                         "         Specify the 'raw' format explicitly to remove the restrictions.\n",
                         spec.file.c_str());
        if (spec.snapshot) {
            // QEMU creates the base's nodes before the overlay's (query-named-block-nodes'
            // order); add_drive() unregisters them again if a later step fails.
            TRY(graph.add_tree(d.root, false));
            d.root = TRY(block::open_temp_snapshot(d.root, spec.flags));
        }
        auto backend = TRY(block::BlockBackend::create(d.name, d.root, vm.loop(), d.options));
        d.backend = std::shared_ptr<block::BlockBackend>(std::move(backend));
        if (spec.throttle.enabled()) {
            // blockdev.c blockdev_init: the group defaults to the drive's id.
            d.throttle = spec.throttle;
            if (d.throttle.group.empty()) d.throttle.group = d.name;
            TRY(d.backend->set_throttle(d.throttle));
        }
    }
    TRY(graph.add_drive(std::move(d)));
    return {};
}

} // namespace

Result<> add_drive(Vm& vm, const cmdline::DriveSpec& spec) {
    auto r = open_drive(vm, spec);
    if (!r) vm.block_graph().collect_garbage();
    return r;
}

Result<> create_block_devices(Vm& vm, const StartupConfig& config) {
    for (const auto& b : config.blockdevs)
        if (auto r = vm.block_graph().add_blockdev(b.options); !r) return fail("{}: {}", b.where, r.error().msg);
    for (const auto& d : config.drives) {
        // vl.c drive_enable_snapshot: -snapshot is snapshot=on for every -drive without snapshot=.
        cmdline::DriveSpec spec = d.spec;
        if (config.snapshot && !spec.snapshot_given) spec.snapshot = true;
        if (auto r = add_drive(vm, spec); !r) return fail("{}: {}", d.where, r.error().msg);
    }
    return {};
}

} // namespace nemu
