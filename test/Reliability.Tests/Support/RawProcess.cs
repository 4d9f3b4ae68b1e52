using System.Runtime.InteropServices;
using System.Text;

namespace Csshim.Reliability.Tests.Support;

/// <summary>How a process ended, from the raw waitpid status: an exit code or the signal that killed it.
/// (.NET's Process.ExitCode reports a signal death as 128+n, the same as an exit with that code.)</summary>
public sealed record RawExit(int WaitStatus, byte[] StdoutBytes, byte[] StderrBytes, bool TimedOut)
{
    public bool Exited => (WaitStatus & 0x7f) == 0;
    public int ExitCode => Exited ? (WaitStatus >> 8) & 0xff : -1;
    public bool Signaled => !Exited && (WaitStatus & 0x7f) != 0x7f;
    public int TermSignal => Signaled ? WaitStatus & 0x7f : 0;
    public string Stdout => Encoding.UTF8.GetString(StdoutBytes);
    public string Stderr => Encoding.UTF8.GetString(StderrBytes);

    public string How => TimedOut ? "timed out" : Signaled ? $"killed by signal {TermSignal}" : $"exited {ExitCode}";

    public override string ToString() => $"{How}; stderr: {Stderr.Trim()}; stdout: {Stdout.Trim()}";
}

/// <summary>
/// posix_spawn + waitpid for the checks .NET's Process cannot make: argv given as bytes (an argument that is not
/// valid UTF-8 reaches the program unchanged) and the raw wait status. stdin is /dev/null, stdout and stderr go to
/// files (a runtime's container may inherit them and outlive the call); signals start at their defaults, and core
/// dumps are off (through `sh -c 'ulimit -c 0; exec "$@"'`, which keeps the program's pid and status).
/// </summary>
public static partial class RawProcess
{
    public static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    public static RawExit Run(IReadOnlyList<byte[]> argv, string outputDir, TimeSpan? timeout = null)
    {
        Directory.CreateDirectory(outputDir);
        var stem = Path.Combine(outputDir, $"raw-{Guid.NewGuid():N}");
        byte[][] full = [Bytes("/bin/sh"), Bytes("-c"), Bytes("ulimit -c 0; exec \"$@\""), Bytes("sh"), .. argv];
        int pid = Spawn(full, stem + ".out", stem + ".err");
        var deadline = DateTime.UtcNow + (timeout ?? Proc.DefaultTimeout);
        int status;
        bool timedOut = false;
        while (true)
        {
            int r = waitpid(pid, out status, WNOHANG);
            if (r == pid) break;
            if (r < 0 && Marshal.GetLastPInvokeError() != EINTR)
                throw new InvalidOperationException($"waitpid({pid}): errno {Marshal.GetLastPInvokeError()}");
            if (DateTime.UtcNow > deadline && !timedOut)
            {
                timedOut = true;
                kill(pid, 9);
                deadline = DateTime.MaxValue;
            }
            Thread.Sleep(10);
        }
        return new RawExit(status, ReadOrEmpty(stem + ".out"), ReadOrEmpty(stem + ".err"), timedOut);
    }

    private static byte[] ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllBytes(path) : [];

    private static unsafe int Spawn(byte[][] argv, string stdout, string stderr)
    {
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => Bytes($"{e.Key}={e.Value}")).ToArray();
        var allocations = new List<IntPtr>();
        IntPtr actions = Marshal.AllocHGlobal(256), attr = Marshal.AllocHGlobal(1024);
        IntPtr mask = Marshal.AllocHGlobal(128), defaults = Marshal.AllocHGlobal(128);
        try
        {
            var argvp = CStringArray(argv, allocations);
            var envp = CStringArray(env, allocations);
            Check(posix_spawn_file_actions_init(actions), "file_actions_init");
            Check(posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0), "addopen stdin");
            Check(posix_spawn_file_actions_addopen(actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0x1A4), "addopen stdout");
            Check(posix_spawn_file_actions_addopen(actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0x1A4), "addopen stderr");
            Check(posix_spawnattr_init(attr), "spawnattr_init");
            sigemptyset(mask);
            sigfillset(defaults); // every signal at its default action (.NET ignores SIGPIPE, and a child inherits that)
            sigdelset(defaults, 9);
            sigdelset(defaults, 19);
            Check(posix_spawnattr_setsigmask(attr, mask), "setsigmask");
            Check(posix_spawnattr_setsigdefault(attr, defaults), "setsigdefault");
            Check(posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK), "setflags");
            Check(posix_spawn(out int pid, [.. argv[0], 0], actions, attr, argvp, envp), "posix_spawn");
            return pid;
        }
        finally
        {
            posix_spawn_file_actions_destroy(actions);
            posix_spawnattr_destroy(attr);
            foreach (var p in allocations) Marshal.FreeHGlobal(p);
            foreach (var p in new[] { actions, attr, mask, defaults }) Marshal.FreeHGlobal(p);
        }
    }

    private static IntPtr CStringArray(byte[][] words, List<IntPtr> allocations)
    {
        var array = Marshal.AllocHGlobal(IntPtr.Size * (words.Length + 1));
        allocations.Add(array);
        for (int i = 0; i < words.Length; i++)
        {
            var s = Marshal.AllocHGlobal(words[i].Length + 1);
            allocations.Add(s);
            Marshal.Copy(words[i], 0, s, words[i].Length);
            Marshal.WriteByte(s, words[i].Length, 0);
            Marshal.WriteIntPtr(array, i * IntPtr.Size, s);
        }
        Marshal.WriteIntPtr(array, words.Length * IntPtr.Size, IntPtr.Zero);
        return array;
    }

    private static void Check(int rc, string what)
    {
        if (rc != 0) throw new InvalidOperationException($"{what} failed: error {rc}");
    }

    private const int WNOHANG = 1, EINTR = 4;
    private const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_TRUNC = 0x200;
    private const short POSIX_SPAWN_SETSIGDEF = 0x04, POSIX_SPAWN_SETSIGMASK = 0x08;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int waitpid(int pid, out int status, int options);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);

    [LibraryImport("libc")]
    private static partial int posix_spawn(out int pid, byte[] path, IntPtr fileActions, IntPtr attr, IntPtr argv, IntPtr envp);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_init(IntPtr actions);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_destroy(IntPtr actions);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int posix_spawn_file_actions_addopen(IntPtr actions, int fd, string path, int flags, int mode);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_init(IntPtr attr);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_destroy(IntPtr attr);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_setsigmask(IntPtr attr, IntPtr mask);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_setsigdefault(IntPtr attr, IntPtr set);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_setflags(IntPtr attr, short flags);

    [LibraryImport("libc")]
    private static partial int sigemptyset(IntPtr set);

    [LibraryImport("libc")]
    private static partial int sigfillset(IntPtr set);

    [LibraryImport("libc")]
    private static partial int sigdelset(IntPtr set, int signal);
}
