#include "system/runstate.h"

#include <utility>

namespace nemu {

std::string_view runstate_name(RunState s) {
    switch (s) {
    case RunState::Debug: return "debug";
    case RunState::InMigrate: return "inmigrate";
    case RunState::InternalError: return "internal-error";
    case RunState::IoError: return "io-error";
    case RunState::Paused: return "paused";
    case RunState::PostMigrate: return "postmigrate";
    case RunState::Prelaunch: return "prelaunch";
    case RunState::FinishMigrate: return "finish-migrate";
    case RunState::RestoreVm: return "restore-vm";
    case RunState::Running: return "running";
    case RunState::SaveVm: return "save-vm";
    case RunState::Shutdown: return "shutdown";
    case RunState::Suspended: return "suspended";
    case RunState::Watchdog: return "watchdog";
    case RunState::GuestPanicked: return "guest-panicked";
    case RunState::Colo: return "colo";
    }
    return "debug";
}

namespace {
using S = RunState;
// A subset of QEMU's runstate_transitions_def covering the states nemu reaches.
constexpr std::pair<S, S> kTransitions[] = {
    {S::Prelaunch, S::Running},      {S::Prelaunch, S::Paused},        {S::Prelaunch, S::InMigrate},
    {S::Prelaunch, S::Shutdown},     {S::Prelaunch, S::FinishMigrate}, {S::Prelaunch, S::InternalError},
    {S::InMigrate, S::Running},      {S::InMigrate, S::Paused},        {S::InMigrate, S::Shutdown},
    {S::InMigrate, S::InternalError}, {S::InMigrate, S::Prelaunch},    {S::Running, S::Paused},
    {S::Running, S::Shutdown},       {S::Running, S::InternalError},   {S::Running, S::FinishMigrate},
    {S::Running, S::GuestPanicked},  {S::Running, S::Suspended},       {S::Running, S::Debug},
    {S::Running, S::IoError},        {S::Running, S::SaveVm},          {S::Paused, S::Running},
    {S::Paused, S::Shutdown},        {S::Paused, S::FinishMigrate},    {S::Paused, S::Prelaunch},
    {S::Paused, S::PostMigrate},     {S::Shutdown, S::Running},        {S::Shutdown, S::Paused},
    {S::Shutdown, S::Prelaunch},     {S::Shutdown, S::FinishMigrate},  {S::InternalError, S::Running},
    {S::InternalError, S::Paused},   {S::InternalError, S::Prelaunch}, {S::InternalError, S::Shutdown},
    {S::GuestPanicked, S::Running},  {S::GuestPanicked, S::Shutdown},  {S::GuestPanicked, S::Paused},
    {S::Suspended, S::Running},      {S::Suspended, S::Paused},        {S::Suspended, S::Shutdown},
    {S::FinishMigrate, S::PostMigrate}, {S::FinishMigrate, S::Paused}, {S::FinishMigrate, S::Running},
    {S::PostMigrate, S::Running},    {S::PostMigrate, S::Paused},      {S::PostMigrate, S::Shutdown},
    {S::Debug, S::Running},          {S::Debug, S::Paused},            {S::IoError, S::Running},
    {S::IoError, S::Paused},         {S::IoError, S::Shutdown},        {S::SaveVm, S::Running},
    {S::IoError, S::Prelaunch},      {S::IoError, S::FinishMigrate},
};
} // namespace

bool RunStateMachine::transition_allowed(RunState to) const {
    if (to == m_state) return true;
    for (auto [from, dest] : kTransitions)
        if (from == m_state && dest == to) return true;
    return false;
}

bool RunStateMachine::set(RunState to) {
    if (!transition_allowed(to)) return false;
    const bool was_running = running();
    m_state = to;
    if (was_running == running()) return true;
    // Locked copies: a handler may add handlers or drop its own handle.
    std::vector<std::shared_ptr<ChangeHandler>> live;
    for (auto& w : m_handlers)
        if (auto h = w.lock()) live.push_back(std::move(h));
    for (auto& h : live) (*h)(running(), m_state);
    return true;
}

std::shared_ptr<void> RunStateMachine::add_change_handler(ChangeHandler fn) {
    std::erase_if(m_handlers, [](const std::weak_ptr<ChangeHandler>& w) { return w.expired(); });
    auto h = std::make_shared<ChangeHandler>(std::move(fn));
    m_handlers.push_back(h);
    return h;
}

} // namespace nemu
