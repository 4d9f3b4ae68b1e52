using System.Runtime.InteropServices;
using NUnit.Framework;

namespace Csshim.Tests.Rig;

/// <summary>What a command started with <see cref="SpawnedCommand"/> did, with its raw wait status.</summary>
public sealed record SpawnResult(string Command, WaitStatus Status, string Stdout, string Stderr)
{
    public override string ToString() =>
        $"`{Command}` {Status}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// A command started with posix_spawn and reaped with waitpid by the test itself, for tests that must see how it
/// ended (a signal death is not an exit status; see <see cref="WaitStatus"/>). Like <see cref="RunningCommand"/>,
/// stdout and stderr go to files and stdin is /dev/null. .NET's own SIGCHLD handling reaps only the children it
/// started, so this one's status is left for waitpid here.
/// </summary>
public sealed class SpawnedCommand : IDisposable
{
    private readonly string outDir;
    private WaitStatus? status;

    public string Command { get; }
    public int Pid { get; }

    private SpawnedCommand(int pid, string outDir, string command)
    {
        Pid = pid;
        this.outDir = outDir;
        Command = command;
    }

    public static SpawnedCommand Start(string exe, IEnumerable<string> args)
    {
        var argList = args.ToList();
        var dir = Directory.CreateTempSubdirectory("csshim-spawn-").FullName;
        var command = ProcessRunner.Quote(exe, argList);
        // sh sets up the files and execs, so the pid (and the wait status) is the command's own.
        string[] argv =
        [
            "/bin/sh", "-c", "out=$1; err=$2; shift 2; exec \"$@\" </dev/null >\"$out\" 2>\"$err\"", "sh",
            Path.Combine(dir, "stdout"), Path.Combine(dir, "stderr"), exe, .. argList,
        ];
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").ToArray();
        return new SpawnedCommand(Spawn(argv, env), dir, command);
    }

    /// <summary>posix_spawn with every signal at its default disposition and none blocked, as a shell would start
    /// a command: a test host that ignores SIGINT (a background job) must not pass that on.</summary>
    private static unsafe int Spawn(string[] argv, string[] env)
    {
        var strings = new List<nint>();
        var attr = Marshal.AllocHGlobal(Native.SpawnAttrBytes);
        var all = Marshal.AllocHGlobal(Native.SigsetBytes);
        var none = Marshal.AllocHGlobal(Native.SigsetBytes);
        try
        {
            nint[] NullTerminated(string[] items)
            {
                var array = new nint[items.Length + 1];
                for (int i = 0; i < items.Length; i++) strings.Add(array[i] = Marshal.StringToCoTaskMemUTF8(items[i]));
                return array;
            }
            var argvArray = NullTerminated(argv);
            var envArray = NullTerminated(env);
            Check(Native.PosixSpawnAttrInit(attr), "posix_spawnattr_init");
            Native.SigFillSet(all);
            Native.SigEmptySet(none);
            Check(Native.PosixSpawnAttrSetSigDefault(attr, all), "posix_spawnattr_setsigdefault");
            Check(Native.PosixSpawnAttrSetSigMask(attr, none), "posix_spawnattr_setsigmask");
            Check(Native.PosixSpawnAttrSetFlags(attr, Native.POSIX_SPAWN_SETSIGDEF | Native.POSIX_SPAWN_SETSIGMASK),
                "posix_spawnattr_setflags");
            int pid;
            fixed (nint* a = argvArray)
            fixed (nint* e = envArray)
                Check(Native.PosixSpawn(out pid, argv[0], 0, attr, a, e), $"posix_spawn {argv[0]}");
            Native.PosixSpawnAttrDestroy(attr);
            return pid;
        }
        finally
        {
            foreach (var s in strings) Marshal.FreeCoTaskMem(s);
            Marshal.FreeHGlobal(attr);
            Marshal.FreeHGlobal(all);
            Marshal.FreeHGlobal(none);
        }
    }

    // The posix_spawn family returns the error number instead of setting errno.
    private static void Check(int error, string call)
    {
        if (error != 0) throw new InvalidOperationException($"{call} failed: errno {error}");
    }

    public bool HasExited => status is not null || TryReap(Native.WNOHANG);

    /// <summary>Waits for the command to end; a command still running after <paramref name="timeout"/> is killed
    /// and fails the test.</summary>
    public SpawnResult Wait(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!TryReap(Native.WNOHANG))
        {
            if (DateTime.UtcNow > deadline)
            {
                Native.Kill(Pid, Native.SIGKILL);
                TryReap(0);
                Assert.Fail($"`{Command}` did not finish within {timeout.TotalSeconds}s; killed.\n" +
                            $"stdout: {ReadOutput("stdout")}\nstderr: {ReadOutput("stderr")}");
            }
            Thread.Sleep(20);
        }
        return new SpawnResult(Command, status!.Value, ReadOutput("stdout"), ReadOutput("stderr"));
    }

    public void Signal(int signal)
    {
        if (Native.Kill(Pid, signal) != 0)
            throw new InvalidOperationException($"kill({Pid}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    private bool TryReap(int options)
    {
        if (status is not null) return true;
        while (true)
        {
            int r = Native.WaitPid(Pid, out var raw, options);
            if (r == Pid)
            {
                status = new WaitStatus(raw);
                return true;
            }
            if (r == 0) return false;
            int errno = Marshal.GetLastPInvokeError();
            if (errno != Native.EINTR) throw new InvalidOperationException($"waitpid({Pid}) failed: errno {errno}");
        }
    }

    private string ReadOutput(string name)
    {
        var path = Path.Combine(outDir, name);
        return File.Exists(path) ? File.ReadAllText(path) : "";
    }

    public void Dispose()
    {
        if (status is null)
        {
            Native.Kill(Pid, Native.SIGKILL);
            TryReap(0);
        }
        try { Directory.Delete(outDir, recursive: true); } catch (IOException) { }
    }
}

internal static partial class Native
{
    public const int SIGINT = 2;
    public const int WNOHANG = 1;
    public const int EINTR = 4;
    public const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;
    // glibc's posix_spawnattr_t is 336 bytes and sigset_t 128 on x86_64 and arm64; room to spare.
    public const int SpawnAttrBytes = 1024, SigsetBytes = 128;

    [LibraryImport("libc", EntryPoint = "posix_spawn", StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int PosixSpawn(out int pid, string path, nint fileActions, nint attr, nint* argv, nint* envp);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    public static partial int PosixSpawnAttrInit(nint attr);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    public static partial int PosixSpawnAttrDestroy(nint attr);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    public static partial int PosixSpawnAttrSetFlags(nint attr, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    public static partial int PosixSpawnAttrSetSigDefault(nint attr, nint sigset);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    public static partial int PosixSpawnAttrSetSigMask(nint attr, nint sigset);

    [LibraryImport("libc", EntryPoint = "sigemptyset")]
    public static partial int SigEmptySet(nint set);

    [LibraryImport("libc", EntryPoint = "sigfillset")]
    public static partial int SigFillSet(nint set);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, out int status, int options);
}
