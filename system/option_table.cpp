// QEMU 7.2's option table for qemu-system-x86_64, in QEMU's order (the order of -help).
// Names, HAS_ARG and the x86 arch mask were read from Debian's 7.2 binary's QEMUOption
// table; help texts follow QEMU's -help layout, for the options nemu supports.
#include "system/option_table.h"

#include <fmt/core.h>

namespace nemu::cmdline {

namespace {

// clang-format off
constexpr OptionDef kOptions[] = {
    {"h", false, Support::Supported, true, OptionGroup::Standard},
    {"help", false, Support::Supported, true, OptionGroup::Standard,
     "-h or -help     display this help and exit\n"},
    {"version", false, Support::Supported, true, OptionGroup::Standard,
     "-version        display version information and exit\n"},
    {"machine", true, Support::Supported, true, OptionGroup::Standard,
     "-machine [type=]name[,prop[=value][,...]]\n"
     "                selects emulated machine ('-machine help' for list)\n"
     "                property accel=accel1[:accel2[:...]] selects accelerator\n"
     "                supported accelerators are kvm or qtest (default: kvm)\n"
     "                vmport=on|off|auto controls emulation of vmport (default: auto)\n"
     "                dump-guest-core=on|off include guest memory in a core dump (default=on)\n"
     "                mem-merge=on|off controls memory merge support (default: on)\n"
     "                aes-key-wrap=on|off controls support for AES key wrapping (default=on)\n"
     "                dea-key-wrap=on|off controls support for DEA key wrapping (default=on)\n"
     "                suppress-vmdesc=on|off disables self-describing migration (default=off)\n"
     "                nvdimm=on|off controls NVDIMM support (default=off)\n"
     "                memory-encryption=@var{} memory encryption object to use (default=none)\n"
     "                hmat=on|off controls ACPI HMAT support (default=off)\n"
     "                memory-backend='backend-id' specifies explicitly provided backend for main RAM (default=none)\n"
     "                cxl-fmw.0.targets.0=firsttarget,cxl-fmw.0.targets.1=secondtarget,cxl-fmw.0.size=size[,cxl-fmw.0.interleave-granularity=granularity]\n"
     "                sgx-epc.0.memdev=memid,sgx-epc.0.node=numaid\n"},
    {"M", true, Support::Supported, true, OptionGroup::Standard},
    {"cpu", true, Support::Supported, true, OptionGroup::Standard,
     "-cpu cpu        select CPU ('-cpu help' for list)\n"},
    {"accel", true, Support::Supported, true, OptionGroup::Standard,
     "-accel [accel=]accelerator[,prop[=value][,...]]\n"
     "                select accelerator (kvm, xen, hax, hvf, nvmm, whpx or tcg; use 'help' for a list)\n"
     "                igd-passthru=on|off (enable Xen integrated Intel graphics passthrough, default=off)\n"
     "                kernel-irqchip=on|off|split controls accelerated irqchip support (default=on)\n"
     "                kvm-shadow-mem=size of KVM shadow MMU in bytes\n"
     "                split-wx=on|off (enable TCG split w^x mapping)\n"
     "                tb-size=n (TCG translation block cache size)\n"
     "                dirty-ring-size=n (KVM dirty ring GFN count, default 0)\n"
     "                notify-vmexit=run|internal-error|disable,notify-window=n (enable notify VM exit and set notify window, x86 only)\n"
     "                thread=single|multi (enable multi-threaded TCG)\n"},
    {"smp", true, Support::Supported, true, OptionGroup::Standard,
     "-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets][,dies=dies][,clusters=clusters][,cores=cores][,threads=threads]\n"
     "                set the number of initial CPUs to 'n' [default=1]\n"
     "                maxcpus= maximum number of total CPUs, including\n"
     "                offline CPUs for hotplug, etc\n"
     "                sockets= number of sockets on the machine board\n"
     "                dies= number of dies in one socket\n"
     "                clusters= number of clusters in one die\n"
     "                cores= number of cores in one cluster\n"
     "                threads= number of threads in one core\n"},
    {"numa", true, Support::Later, true, OptionGroup::Standard},
    {"add-fd", true, Support::Later, true, OptionGroup::Standard},
    {"set", true, Support::Later, true, OptionGroup::Standard},
    {"global", true, Support::Supported, true, OptionGroup::Standard,
     "-global driver.property=value\n"
     "-global driver=driver,property=property,value=value\n"
     "                set a global default for a driver property\n"},
    {"boot", true, Support::Supported, true, OptionGroup::Standard,
     "-boot [order=drives][,once=drives][,menu=on|off]\n"},
    {"m", true, Support::Supported, true, OptionGroup::Standard,
     "-m [size=]megs[,slots=n,maxmem=size]\n"
     "                configure guest RAM\n"
     "                size: initial amount of guest memory\n"
     "                slots: number of hotplug slots (default: none)\n"
     "                maxmem: maximum amount of guest memory (default: none)\n"},
    {"mem-path", true, Support::Supported, true, OptionGroup::Standard,
     "-mem-path FILE  provide backing storage for guest RAM\n"},
    {"mem-prealloc", false, Support::Supported, true, OptionGroup::Standard,
     "-mem-prealloc   preallocate guest memory (use with -mem-path)\n"},
    {"k", true, Support::Supported, true, OptionGroup::Standard,
     "-k language     use keyboard layout (for example 'fr' for French)\n"},
    {"audio-help", false, Support::Unsupported, true, OptionGroup::Standard},
    {"audio", true, Support::Unsupported, true, OptionGroup::Standard},
    {"audiodev", true, Support::Unsupported, true, OptionGroup::Standard},
    {"device", true, Support::Supported, true, OptionGroup::Standard,
     "-device driver[,prop[=value][,...]]\n"
     "                add device (based on driver)\n"
     "                prop=value,... sets driver properties\n"
     "                use '-device help' to print all possible drivers\n"
     "                use '-device driver,help' to print all possible properties\n"},
    {"name", true, Support::Supported, true, OptionGroup::Standard,
     "-name string1[,process=string2][,debug-threads=on|off]\n"
     "                set the name of the guest\n"
     "                string1 sets the window title and string2 the process name\n"
     "                When debug-threads is enabled, individual threads are given a separate name\n"
     "                NOTE: The thread names are for debugging and not a stable API.\n"},
    {"uuid", true, Support::Supported, true, OptionGroup::Standard,
     "-uuid %08x-%04x-%04x-%04x-%012x\n"
     "                specify machine UUID\n"},
    {"fda", true, Support::Unsupported, true, OptionGroup::Block},
    {"fdb", true, Support::Unsupported, true, OptionGroup::Standard},
    {"hda", true, Support::Unsupported, true, OptionGroup::Block},
    {"hdb", true, Support::Unsupported, true, OptionGroup::Standard},
    {"hdc", true, Support::Unsupported, true, OptionGroup::Block},
    {"hdd", true, Support::Unsupported, true, OptionGroup::Standard},
    {"cdrom", true, Support::Unsupported, true, OptionGroup::Block},
    {"blockdev", true, Support::Supported, true, OptionGroup::Block,
     "-blockdev [driver=]driver[,node-name=N][,discard=ignore|unmap]\n"
     "          [,cache.direct=on|off][,cache.no-flush=on|off]\n"
     "          [,read-only=on|off][,auto-read-only=on|off]\n"
     "          [,force-share=on|off][,detect-zeroes=on|off|unmap]\n"
     "          [,driver specific parameters...]\n"
     "                configure a block backend\n"},
    {"drive", true, Support::Supported, true, OptionGroup::Block,
     "-drive [file=file][,if=none][,media=d][,index=i]\n"
     "       [,cache=writethrough|writeback|none|directsync|unsafe][,format=f]\n"
     "       [,snapshot=on|off][,rerror=ignore|stop|report]\n"
     "       [,werror=ignore|stop|report|enospc][,id=name]\n"
     "       [,aio=threads|native|io_uring]\n"
     "       [,readonly=on|off]\n"
     "       [,discard=ignore|unmap][,detect-zeroes=on|off|unmap]\n"
     "                use 'file' as a drive image (if=none only: attach it with -device)\n"},
    {"mtdblock", true, Support::Unsupported, true, OptionGroup::Block},
    {"sd", true, Support::Unsupported, true, OptionGroup::Block},
    {"snapshot", false, Support::Supported, true, OptionGroup::Block},
    {"fsdev", true, Support::Later, true, OptionGroup::Block},
    {"virtfs", true, Support::Later, true, OptionGroup::Block},
    {"iscsi", true, Support::Unsupported, true, OptionGroup::Block},
    {"usb", false, Support::Later, true, OptionGroup::Usb},
    {"usbdevice", true, Support::Unsupported, true, OptionGroup::Usb},
    {"display", true, Support::Supported, true, OptionGroup::Display,
     "-display spice-app[,gl=on|off]\n"
     "-display sdl[,gl=on|core|es|off][,grab-mod=<mod>][,show-cursor=on|off]\n"
     "-display gtk[,full-screen=on|off][,gl=on|off][,grab-on-hover=on|off]\n"
     "-display vnc=<display>[,<optargs>]\n"
     "-display curses[,charset=<encoding>]\n"
     "-display egl-headless[,rendernode=<file>]\n"
     "-display dbus[,addr=<dbusaddr>]\n"
     "-display none\n"
     "                select display backend type\n"
     "                The default display is equivalent to\n"
     "                \"-display gtk\"\n"},
    {"nographic", false, Support::Supported, true, OptionGroup::Display,
     "-nographic      disable graphical output and redirect serial I/Os to console\n"},
    {"spice", true, Support::Unsupported, true, OptionGroup::Display},
    {"portrait", false, Support::Unsupported, true, OptionGroup::Display},
    {"rotate", true, Support::Unsupported, true, OptionGroup::Display},
    {"vga", true, Support::Supported, true, OptionGroup::Display,
     "-vga [std|cirrus|vmware|qxl|xenfb|tcx|cg3|virtio|none]\n"
     "                select video card type\n"},
    {"full-screen", false, Support::Unsupported, true, OptionGroup::Display},
    {"g", true, Support::Unsupported, false, OptionGroup::Standard},
    {"vnc", true, Support::Unsupported, true, OptionGroup::Display},
    {"win2k-hack", false, Support::Unsupported, true, OptionGroup::Display},
    {"no-fd-bootchk", false, Support::Unsupported, true, OptionGroup::Display},
    {"no-acpi", false, Support::Later, true, OptionGroup::Display},
    {"no-hpet", false, Support::Supported, true, OptionGroup::Display,
     "-no-hpet        disable HPET\n"},
    {"acpitable", true, Support::Later, true, OptionGroup::Display},
    {"smbios", true, Support::Later, true, OptionGroup::Display},
    {"netdev", true, Support::Supported, true, OptionGroup::Network,   // tap only (net/tap.h)
     "-netdev user,id=str[,ipv4=on|off][,net=addr[/mask]][,host=addr]\n"
     "-netdev tap,id=str[,fd=h][,fds=x:y:...:z][,ifname=name][,script=file][,downscript=dfile]\n"
     "-netdev bridge,id=str[,br=bridge][,helper=helper]\n"
     "                configure a host TAP network backend with ID 'str' that is\n"
     "                connected to a bridge (default=br0)\n"
     "                using the program 'helper (default=/usr/lib/nemu/nemu-bridge-helper)\n"
     "-netdev l2tpv3,id=str,src=srcaddr,dst=dstaddr[,srcport=srcport][,dstport=dstport]\n"
     "-netdev socket,id=str[,fd=h][,listen=[host]:port][,connect=host:port]\n"
     "                configure a network backend to connect to another network\n"
     "                using a socket connection\n"
     "-netdev socket,id=str[,fd=h][,mcast=maddr:port[,localaddr=addr]]\n"
     "                configure a network backend to connect to a multicast maddr and port\n"
     "                use 'localaddr=addr' to specify the host address to send packets from\n"
     "-netdev socket,id=str[,fd=h][,udp=host:port][,localaddr=host:port]\n"
     "                configure a network backend to connect to another network\n"
     "                using an UDP tunnel\n"
     "-netdev stream,id=str[,server=on|off],addr.type=inet,addr.host=host,addr.port=port[,to=maxport][,numeric=on|off][,keep-alive=on|off][,mptcp=on|off][,addr.ipv4=on|off][,addr.ipv6=on|off]\n"
     "-netdev stream,id=str[,server=on|off],addr.type=unix,addr.path=path[,abstract=on|off][,tight=on|off]\n"
     "-netdev stream,id=str[,server=on|off],addr.type=fd,addr.str=file-descriptor\n"
     "                configure a network backend to connect to another network\n"
     "                using a socket connection in stream mode.\n"
     "-netdev dgram,id=str,remote.type=inet,remote.host=maddr,remote.port=port[,local.type=inet,local.host=addr]\n"
     "-netdev dgram,id=str,remote.type=inet,remote.host=maddr,remote.port=port[,local.type=fd,local.str=file-descriptor]\n"
     "                configure a network backend to connect to a multicast maddr and port\n"
     "                use ``local.host=addr`` to specify the host address to send packets from\n"
     "-netdev dgram,id=str,local.type=inet,local.host=addr,local.port=port[,remote.type=inet,remote.host=addr,remote.port=port]\n"
     "-netdev dgram,id=str,local.type=unix,local.path=path[,remote.type=unix,remote.path=path]\n"
     "-netdev dgram,id=str,local.type=fd,local.str=file-descriptor\n"
     "                configure a network backend to connect to another network\n"
     "                using an UDP tunnel\n"
     "-netdev vde,id=str[,sock=socketpath][,port=n][,group=groupname][,mode=octalmode]\n"
     "                configure a network backend to connect to port 'n' of a vde switch\n"
     "                running on host and listening for incoming connections on 'socketpath'.\n"
     "                Use group 'groupname' and mode 'octalmode' to change default\n"
     "                ownership and permissions for communication port.\n"
     "-netdev vhost-user,id=str,chardev=dev[,vhostforce=on|off]\n"
     "                configure a vhost-user network, backed by a chardev 'dev'\n"
     "-netdev vhost-vdpa,id=str[,vhostdev=/path/to/dev][,vhostfd=h]\n"
     "                configure a vhost-vdpa network,Establish a vhost-vdpa netdev\n"
     "                use 'vhostdev=/path/to/dev' to open a vhost vdpa device\n"
     "                use 'vhostfd=h' to connect to an already opened vhost vdpa device\n"
     "-netdev hubport,id=str,hubid=n[,netdev=nd]\n"
     "                configure a hub port on the hub with ID 'n'\n"},
    {"nic", true, Support::Later, true, OptionGroup::Network},
    {"net", true, Support::Later, true, OptionGroup::Network},
    {"chardev", true, Support::Supported, true, OptionGroup::Chardev,
     "-chardev help\n"
     "-chardev null,id=id[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev socket,id=id[,host=host],port=port[,to=to][,ipv4=on|off][,ipv6=on|off][,nodelay=on|off]\n"
     "-chardev socket,id=id,path=path[,server=on|off][,wait=on|off][,telnet=on|off][,websocket=on|off][,reconnect=seconds]\n"
     "-chardev udp,id=id[,host=host],port=port[,localaddr=localaddr]\n"
     "-chardev msmouse,id=id[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev vc,id=id[[,width=width][,height=height]][[,cols=cols][,rows=rows]]\n"
     "-chardev ringbuf,id=id[,size=size][,logfile=PATH][,logappend=on|off]\n"
     "-chardev file,id=id,path=path[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev pipe,id=id,path=path[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev pty,id=id[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev stdio,id=id[,mux=on|off][,signal=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev braille,id=id[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev serial,id=id,path=path[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev tty,id=id,path=path[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev parallel,id=id,path=path[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev parport,id=id,path=path[,mux=on|off][,logfile=PATH][,logappend=on|off]\n"
     "-chardev spicevmc,id=id,name=name[,debug=debug][,logfile=PATH][,logappend=on|off]\n"
     "-chardev spiceport,id=id,name=name[,debug=debug][,logfile=PATH][,logappend=on|off]\n"},
    {"tpmdev", true, Support::Later, true, OptionGroup::Tpm},
    {"bios", true, Support::Later, true, OptionGroup::Boot},
    {"pflash", true, Support::Later, true, OptionGroup::Boot},
    {"kernel", true, Support::Supported, true, OptionGroup::Boot,
     "-kernel bzImage use 'bzImage' as kernel image\n"},
    {"append", true, Support::Supported, true, OptionGroup::Boot,
     "-append cmdline use 'cmdline' as kernel command line\n"},
    {"initrd", true, Support::Supported, true, OptionGroup::Boot,
     "-initrd file    use 'file' as initial ram disk\n"},
    {"dtb", true, Support::Unsupported, true, OptionGroup::Boot},
    {"compat", true, Support::Later, true, OptionGroup::Debug},
    {"fw_cfg", true, Support::Later, true, OptionGroup::Debug},
    {"serial", true, Support::Supported, true, OptionGroup::Debug,
     "-serial dev     redirect the serial port to char device 'dev'\n"},
    {"parallel", true, Support::Later, true, OptionGroup::Debug},
    {"monitor", true, Support::Supported, true, OptionGroup::Debug,
     "-monitor dev    redirect the monitor to char device 'dev'\n"},
    {"qmp", true, Support::Supported, true, OptionGroup::Debug,
     "-qmp dev        like -monitor but opens in 'control' mode\n"},
    {"qmp-pretty", true, Support::Supported, true, OptionGroup::Debug,
     "-qmp-pretty dev like -qmp but uses pretty JSON formatting\n"},
    {"mon", true, Support::Supported, true, OptionGroup::Debug,
     "-mon [chardev=]name[,mode=readline|control][,pretty[=on|off]]\n"},
    {"debugcon", true, Support::Later, true, OptionGroup::Debug},
    {"pidfile", true, Support::Supported, true, OptionGroup::Debug,
     "-pidfile file   write PID to 'file'\n"},
    {"singlestep", false, Support::Unsupported, true, OptionGroup::Debug},
    {"preconfig", false, Support::Supported, true, OptionGroup::Debug},
    {"S", false, Support::Supported, true, OptionGroup::Debug,
     "-S              freeze CPU at startup (use 'c' to start execution)\n"},
    {"overcommit", true, Support::Supported, true, OptionGroup::Debug,
     "-overcommit [mem-lock=on|off][cpu-pm=on|off]\n"
     "                run nemu with overcommit hints\n"
     "                mem-lock=on|off controls memory lock support (default: off)\n"
     "                cpu-pm=on|off controls cpu power management (default: off)\n"},
    {"gdb", true, Support::Later, true, OptionGroup::Debug},
    {"s", false, Support::Later, true, OptionGroup::Debug},
    {"d", true, Support::Later, true, OptionGroup::Debug,
     "-d item1,...    enable logging of specified items (use '-d help' for a list of log items)\n"},
    {"D", true, Support::Later, true, OptionGroup::Debug,
     "-D logfile      output log to logfile (default stderr)\n"},
    {"dfilter", true, Support::Unsupported, true, OptionGroup::Debug},
    {"seed", true, Support::Later, true, OptionGroup::Debug},
    {"L", true, Support::Supported, true, OptionGroup::Debug,
     "-L path         set the directory for the BIOS, VGA BIOS and keymaps\n"},
    {"enable-kvm", false, Support::Supported, true, OptionGroup::Debug,
     "-enable-kvm     enable KVM full virtualization support\n"},
    {"xen-domid", true, Support::Unsupported, true, OptionGroup::Debug},
    {"xen-attach", false, Support::Unsupported, true, OptionGroup::Debug},
    {"xen-domid-restrict", false, Support::Unsupported, true, OptionGroup::Debug},
    {"no-reboot", false, Support::Supported, true, OptionGroup::Debug,
     "-no-reboot      exit instead of rebooting\n"},
    {"no-shutdown", false, Support::Supported, true, OptionGroup::Debug,
     "-no-shutdown    stop before shutdown\n"},
    {"action", true, Support::Later, true, OptionGroup::Debug,
     "-action reboot=reset|shutdown\n"
     "                   action when guest reboots [default=reset]\n"
     "-action shutdown=poweroff|pause\n"
     "                   action when guest shuts down [default=poweroff]\n"
     "-action panic=pause|shutdown|exit-failure|none\n"
     "                   action when guest panics [default=shutdown]\n"
     "-action watchdog=reset|shutdown|poweroff|inject-nmi|pause|debug|none\n"
     "                   action when watchdog fires [default=reset]\n"},
    {"loadvm", true, Support::Later, true, OptionGroup::Debug},
    {"daemonize", false, Support::Supported, true, OptionGroup::Debug,
     "-daemonize      daemonize nemu after initializing\n"},
    {"option-rom", true, Support::Unsupported, true, OptionGroup::Debug},
    {"rtc", true, Support::Supported, true, OptionGroup::Debug,
     "-rtc [base=utc|localtime|<datetime>][,clock=host|rt|vm][,driftfix=none|slew]\n"
     "                set the RTC base and clock, enable drift fix for clock ticks (x86 only)\n"},
    {"icount", true, Support::Unsupported, true, OptionGroup::Debug},
    {"watchdog-action", true, Support::Later, true, OptionGroup::Debug},
    {"echr", true, Support::Later, true, OptionGroup::Debug},
    {"incoming", true, Support::Later, true, OptionGroup::Debug,
     "-incoming tcp:[host]:port[,to=maxport][,ipv4=on|off][,ipv6=on|off]\n"
     "-incoming rdma:host:port[,ipv4=on|off][,ipv6=on|off]\n"
     "-incoming unix:socketpath\n"
     "                prepare for incoming migration, listen on\n"
     "                specified protocol and socket address\n"
     "-incoming fd:fd\n"
     "-incoming exec:cmdline\n"
     "                accept incoming migration on given file descriptor\n"
     "                or from given external command\n"
     "-incoming defer\n"
     "                wait for the URI to be specified via migrate_incoming\n"},
    {"only-migratable", false, Support::Later, true, OptionGroup::Debug},
    {"nodefaults", false, Support::Supported, true, OptionGroup::Debug,
     "-nodefaults     don't create default devices\n"},
    {"chroot", true, Support::Later, true, OptionGroup::Debug},
    {"runas", true, Support::Later, true, OptionGroup::Debug},
    {"prom-env", true, Support::Unsupported, false, OptionGroup::Standard},
    {"semihosting", false, Support::Unsupported, false, OptionGroup::Standard},
    {"semihosting-config", true, Support::Unsupported, false, OptionGroup::Standard},
    {"old-param", false, Support::Unsupported, false, OptionGroup::Standard},
    {"sandbox", true, Support::Supported, true, OptionGroup::Debug,
     "-sandbox on[,obsolete=allow|deny][,elevateprivileges=allow|deny|children]\n"},
    {"readconfig", true, Support::Later, true, OptionGroup::Debug},
    {"no-user-config", false, Support::Supported, true, OptionGroup::Debug,
     "-no-user-config\n"
     "                do not load default user-provided config files at startup\n"},
    {"trace", true, Support::Later, true, OptionGroup::Debug,
     "-trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
     "                specify tracing options\n"},
    {"plugin", true, Support::Unsupported, true, OptionGroup::Debug},
    {"qtest", true, Support::Supported, true, OptionGroup::Debug},
    {"qtest-log", true, Support::Supported, true, OptionGroup::Debug},
    {"async-teardown", false, Support::Later, true, OptionGroup::Debug},
    {"msg", true, Support::Supported, true, OptionGroup::Debug,
     "-msg [timestamp[=on|off]][,guest-name=[on|off]]\n"
     "                control error message format\n"
     "                timestamp=on enables timestamps (default: off)\n"
     "                guest-name=on enables guest name prefix but only if\n"
     "                              -name guest option is set (default: off)\n"},
    {"dump-vmstate", true, Support::Later, true, OptionGroup::Debug},
    {"enable-sync-profile", false, Support::Unsupported, true, OptionGroup::Debug},
    {"object", true, Support::Supported, true, OptionGroup::Object,
     "-object TYPENAME[,PROP1=VALUE1,...]\n"
     "                create a new object of type TYPENAME setting properties\n"
     "                in the order they are specified.  Note that the 'id'\n"
     "                property must be set.  These objects are placed in the\n"
     "                '/objects' path.\n"},
};
// clang-format on

} // namespace

std::span<const OptionDef> option_table() { return kOptions; }

const OptionDef* find_option(std::string_view name) {
    for (const auto& d : kOptions) {
        if (d.name == name) return &d;
    }
    return nullptr;
}

std::string not_supported_yet(const OptionDef& def) {
    return fmt::format("-{}: not supported yet", def.name);
}

std::string not_supported(const OptionDef& def) {
    return fmt::format("-{}: not supported by nemu", def.name);
}

} // namespace nemu::cmdline
