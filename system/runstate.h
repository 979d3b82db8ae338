#pragma once
// The VM run state (QEMU softmmu/runstate.c): the states QMP's RunState names, and the
// transitions nemu allows between them. Invalid transitions are programmer bugs upstream;
// here they are refused and reported, never aborted on.
// Thread: main loop.

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace nemu {

enum class RunState {
    Debug, InMigrate, InternalError, IoError, Paused, PostMigrate, Prelaunch, FinishMigrate,
    RestoreVm, Running, SaveVm, Shutdown, Suspended, Watchdog, GuestPanicked, Colo,
};

// The QAPI name ("running", "prelaunch", ...).
std::string_view runstate_name(RunState s);

class RunStateMachine {
public:
    RunState state() const { return m_state; }
    bool running() const { return m_state == RunState::Running; }
    bool transition_allowed(RunState to) const;
    // Returns false (and leaves the state) for a transition QEMU would not make.
    bool set(RunState to);

    // QEMU's VM change state handlers (qemu_add_vm_change_state_handler): fn(running, state)
    // after every set() that changes running(), for as long as the returned handle lives.
    // Block devices retry the requests a werror/rerror=stop parked when running turns true.
    using ChangeHandler = std::function<void(bool running, RunState state)>;
    std::shared_ptr<void> add_change_handler(ChangeHandler fn);

private:
    RunState m_state = RunState::Prelaunch;
    std::vector<std::weak_ptr<ChangeHandler>> m_handlers;
};

} // namespace nemu
