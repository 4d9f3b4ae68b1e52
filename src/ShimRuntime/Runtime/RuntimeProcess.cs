using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Runtime;

/// <summary>How a runtime child ended: an exit code, or the signal that killed it.</summary>
internal readonly record struct ChildExit(int Code, int Signal)
{
    public bool Signaled => Signal != 0;

    /// <summary>As a shell reports it (128+n for a signal), for messages.</summary>
    public int ShellStatus => Signaled ? 128 + Signal : Code;

    /// <summary>End the way the child ended, so a caller that looks at WIFSIGNALED sees what it would see without
    /// csshim: a signal death is re-raised with the default action; an exit code is returned.</summary>
    public int Propagate()
    {
        if (Signaled) SignalDeath.Die(Signal);
        return ShellStatus; // only a signal whose default action is not to end the process gets here
    }
}

/// <summary>Ways of handing a call to the real runtime. Exec keeps everything (PID, fds, signals, exit status);
/// Spawn is for calls csshim must act after; Capture is for csshim's own questions to the runtime.</summary>
internal static class RuntimeProcess
{
    private const short POSIX_SPAWN_SETPGROUP = 0x02, POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;
    private const int SigsetBytes = 128, SpawnAttrBytes = 1024, FileActionsBytes = 256;

    /// <summary>Replace csshim with the runtime. Returns only by throwing.</summary>
    public static void Exec(string path, IReadOnlyList<string> args)
    {
        // .NET ignores SIGPIPE and may block signals; an exec'd runtime must start with the dispositions the caller gave us.
        Linux.signal(Linux.SIGPIPE, IntPtr.Zero);
        var empty = Marshal.AllocHGlobal(SigsetBytes);
        Linux.sigemptyset(empty);
        Linux.sigprocmask(2 /* SIG_SETMASK */, empty, IntPtr.Zero);
        using var argv = new NativeStringArray([path, .. args]);
        Linux.execv(path, argv.Pointer);
        throw new ShimException($"cannot execute runtime {path}: {Linux.Error(Linux.LastErrno)}");
    }

    /// <summary>Run the runtime as a child with csshim's stdio and inherited fds, relaying signals to it while it runs.
    /// A caller with cleanup to do after the child passes its own <paramref name="relay"/>, which keeps holding the
    /// signals off until the caller is done.</summary>
    public static ChildExit Spawn(string path, IReadOnlyList<string> args, Action? onStarted = null, SignalRelay? relay = null)
    {
        var owned = relay is null;
        relay ??= new SignalRelay();
        try
        {
            int pid = StartChild(path, args, fileActions: IntPtr.Zero, ownGroup: false);
            relay.Attach(pid);
            onStarted?.Invoke();
            return WaitForExit(pid);
        }
        finally
        {
            relay.Detach();
            if (owned) relay.Dispose();
        }
    }

    /// <summary>Run the runtime for csshim's own purposes: stdin /dev/null, stdout and stderr captured. Output goes
    /// to memory files rather than pipes: a runsc sandbox may inherit them and outlive the call, and the answer is
    /// read once the child has exited, so nothing waits for an end of file. The child gets a process group of its
    /// own: a terminal's Ctrl-C is for the caller's runtime, not for csshim's questions and cleanup.</summary>
    public static (int Status, string Stdout, string Stderr) Capture(string path, IReadOnlyList<string> args, string? workingDirectory = null)
    {
        using var stdout = MemoryFile("csshim-stdout");
        using var stderr = MemoryFile("csshim-stderr");
        var actions = Marshal.AllocHGlobal(FileActionsBytes);
        try
        {
            Linux.posix_spawn_file_actions_init(actions);
            Linux.posix_spawn_file_actions_addopen(actions, 0, "/dev/null", Linux.O_RDONLY, 0);
            Linux.posix_spawn_file_actions_adddup2(actions, (int)stdout.DangerousGetHandle(), 1);
            Linux.posix_spawn_file_actions_adddup2(actions, (int)stderr.DangerousGetHandle(), 2);
            if (workingDirectory is not null) Linux.posix_spawn_file_actions_addchdir_np(actions, workingDirectory);
            var exit = WaitForExit(StartChild(path, args, actions, ownGroup: true));
            return (exit.ShellStatus, ReadAll(stdout), ReadAll(stderr));
        }
        finally
        {
            Linux.posix_spawn_file_actions_destroy(actions);
            Marshal.FreeHGlobal(actions);
        }
    }

    private static SafeFileHandle MemoryFile(string name)
    {
        int fd = Linux.memfd_create(name, Linux.MFD_CLOEXEC);
        if (fd < 0) throw new ShimException($"cannot create a memory file for the runtime's answer: {Linux.Error(Linux.LastErrno)}");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static string ReadAll(SafeFileHandle file)
    {
        var length = RandomAccess.GetLength(file);
        var bytes = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = RandomAccess.Read(file, bytes.AsSpan(read), read);
            if (n <= 0) break;
            read += n;
        }
        return Encoding.UTF8.GetString(bytes, 0, read);
    }

    private static int StartChild(string path, IReadOnlyList<string> args, IntPtr fileActions, bool ownGroup)
    {
        var attr = Marshal.AllocHGlobal(SpawnAttrBytes);
        var mask = Marshal.AllocHGlobal(SigsetBytes);
        var defaults = Marshal.AllocHGlobal(SigsetBytes);
        try
        {
            Linux.posix_spawnattr_init(attr);
            Linux.sigemptyset(mask);
            Linux.sigemptyset(defaults);
            Linux.sigaddset(defaults, Linux.SIGPIPE);
            Linux.posix_spawnattr_setsigmask(attr, mask);
            Linux.posix_spawnattr_setsigdefault(attr, defaults);
            if (ownGroup) Linux.posix_spawnattr_setpgroup(attr, 0);
            Linux.posix_spawnattr_setflags(attr, (short)(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (ownGroup ? POSIX_SPAWN_SETPGROUP : 0)));
            using var argv = new NativeStringArray([path, .. args]);
            int rc = Linux.posix_spawn(out int pid, path, fileActions, attr, argv.Pointer, Linux.Environ());
            if (rc != 0) throw new ShimException($"cannot execute runtime {path}: {Linux.Error(rc)}");
            return pid;
        }
        finally
        {
            Linux.posix_spawnattr_destroy(attr);
            Marshal.FreeHGlobal(attr);
            Marshal.FreeHGlobal(mask);
            Marshal.FreeHGlobal(defaults);
        }
    }

    private static ChildExit WaitForExit(int pid)
    {
        while (true)
        {
            if (Syscall.waitpid(pid, out int status, 0) == pid)
            {
                int termsig = status & 0x7f;
                return termsig == 0 ? new ChildExit((status >> 8) & 0xff, 0) : new ChildExit(0, termsig);
            }
            int errno = Linux.LastErrno;
            if (errno != Linux.EINTR) throw new ShimException($"waiting for runtime (pid {pid}): {Linux.Error(errno)}");
        }
    }
}

/// <summary>Signals sent to csshim while a runtime child runs go on to the child, so a foreground `run` or a
/// `delete` stays controllable through csshim; between children (csshim's cleanup after a run) they are held off, so
/// that a second Ctrl-C cannot leave a staging half removed. A terminal's own signals (Ctrl-C, Ctrl-\, a resize)
/// already reach the child: the kernel sends them to the whole foreground process group, which the child shares with
/// csshim. Relaying those too would deliver them twice, so they are not relayed while csshim is in its terminal's
/// foreground group. (Without siginfo csshim cannot tell a terminal's SIGINT from a `kill -INT` of its own pid while
/// it is in the foreground; such a signal then reaches only csshim's group.)</summary>
internal sealed class SignalRelay : IDisposable
{
    private static readonly int[] Relayed = [1, 2, 3, 10, 12, 15, 28]; // HUP INT QUIT USR1 USR2 TERM WINCH
    private static readonly int[] FromTerminal = [2, 3, 28];           // INT QUIT WINCH

    private readonly List<PosixSignalRegistration> registrations;
    private volatile int child;

    public SignalRelay() =>
        registrations = Relayed.Select(sig => PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
        {
            ctx.Cancel = true;
            var pid = child;
            if (pid == 0 || (FromTerminal.Contains(sig) && InTerminalForeground())) return;
            Syscall.kill(pid, (Signum)sig);
        })).ToList();

    public void Attach(int pid) => child = pid;

    public void Detach() => child = 0;

    private static bool InTerminalForeground()
    {
        int tty = Linux.Open("/dev/tty", Linux.O_RDONLY | Linux.O_NOCTTY | Linux.O_NONBLOCK, 0);
        if (tty < 0) return false; // no controlling terminal
        try
        {
            return Syscall.tcgetpgrp(tty) == Syscall.getpgrp();
        }
        finally
        {
            Syscall.close(tty);
        }
    }

    public void Dispose()
    {
        foreach (var r in registrations) r.Dispose();
    }
}

/// <summary>Dying of a signal the way the runtime child did.</summary>
internal static class SignalDeath
{
    public static void Die(int signal)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        Linux.signal(signal, IntPtr.Zero); // SIG_DFL, whatever handler .NET installed
        var set = Marshal.AllocHGlobal(128);
        Linux.sigemptyset(set);
        Linux.sigaddset(set, signal);
        Linux.sigprocmask(1 /* SIG_UNBLOCK */, set, IntPtr.Zero);
        Linux.raise(signal); // delivered to this thread before raise returns; the default action ends the process
    }
}
