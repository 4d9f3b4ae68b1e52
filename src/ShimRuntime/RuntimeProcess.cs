using System.Diagnostics;
using System.Runtime.InteropServices;
using Csshim.ShimRuntime.Native;

namespace Csshim.ShimRuntime;

/// <summary>Ways of handing a call to the real runtime. Exec keeps everything (PID, fds, signals, exit status);
/// Spawn is for calls csshim must act after; Capture is for csshim's own questions to the runtime.</summary>
internal static class RuntimeProcess
{
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;
    private const int SigsetBytes = 128, SpawnAttrBytes = 1024;

    /// <summary>Forwarded while a spawned runtime runs, so a foreground `run` or a `delete` stays killable through csshim.</summary>
    private static readonly int[] ForwardedSignals = [1, 2, 3, 10, 12, 15, 28]; // HUP INT QUIT USR1 USR2 TERM WINCH

    /// <summary>Replace csshim with the runtime. Returns only by throwing.</summary>
    public static void Exec(string path, IReadOnlyList<string> args)
    {
        // .NET ignores SIGPIPE and may block signals; an exec'd runtime must start with the dispositions the caller gave us.
        Libc.signal(Libc.SIGPIPE, IntPtr.Zero);
        var empty = Marshal.AllocHGlobal(SigsetBytes);
        Libc.sigemptyset(empty);
        Libc.sigprocmask(2 /* SIG_SETMASK */, empty, IntPtr.Zero);
        using var argv = new NativeStringArray([path, .. args]);
        Libc.execv(path, argv.Pointer);
        throw new ShimException($"cannot execute runtime {path}: {Libc.Error(Libc.LastErrno)}");
    }

    /// <summary>Run the runtime as a child with csshim's stdio and inherited fds, forwarding signals; returns its
    /// exit status, or 128+signal when it was killed (as a shell reports it).</summary>
    public static int Spawn(string path, IReadOnlyList<string> args, Action? onStarted = null)
    {
        int pid = StartChild(path, args);
        onStarted?.Invoke();
        var registrations = ForwardedSignals
            .Select(sig => PosixSignalRegistration.Create((PosixSignal)sig, ctx =>
            {
                ctx.Cancel = true;
                Libc.kill(pid, sig);
            }))
            .ToList();
        try
        {
            return WaitForExit(pid);
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }

    /// <summary>Run the runtime for csshim's own purposes; stdout captured, stderr captured.</summary>
    public static (int Status, string Stdout, string Stderr) Capture(string path, IReadOnlyList<string> args, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new ShimException($"cannot start runtime {path}");
        p.StandardInput.Close();
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    private static int StartChild(string path, IReadOnlyList<string> args)
    {
        var attr = Marshal.AllocHGlobal(SpawnAttrBytes);
        var mask = Marshal.AllocHGlobal(SigsetBytes);
        var defaults = Marshal.AllocHGlobal(SigsetBytes);
        try
        {
            Libc.posix_spawnattr_init(attr);
            Libc.sigemptyset(mask);
            Libc.sigemptyset(defaults);
            Libc.sigaddset(defaults, Libc.SIGPIPE);
            Libc.posix_spawnattr_setsigmask(attr, mask);
            Libc.posix_spawnattr_setsigdefault(attr, defaults);
            Libc.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
            using var argv = new NativeStringArray([path, .. args]);
            int rc = Libc.posix_spawn(out int pid, path, IntPtr.Zero, attr, argv.Pointer, Libc.Environ());
            if (rc != 0) throw new ShimException($"cannot execute runtime {path}: {Libc.Error(rc)}");
            return pid;
        }
        finally
        {
            Libc.posix_spawnattr_destroy(attr);
            Marshal.FreeHGlobal(attr);
            Marshal.FreeHGlobal(mask);
            Marshal.FreeHGlobal(defaults);
        }
    }

    private static int WaitForExit(int pid)
    {
        while (true)
        {
            if (Libc.waitpid(pid, out int status, 0) == pid)
            {
                int termsig = status & 0x7f;
                return termsig == 0 ? (status >> 8) & 0xff : 128 + termsig;
            }
            int errno = Libc.LastErrno;
            if (errno != Libc.EINTR) throw new ShimException($"waiting for runtime (pid {pid}): {Libc.Error(errno)}");
        }
    }
}
