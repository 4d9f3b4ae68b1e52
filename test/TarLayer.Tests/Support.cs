using Csshim.TarLayer.Posix;
using System.Diagnostics;
using System.Text;
using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>Shell utilities: the tests build trees and check interop with real tools (mknod, setfattr, tar, mount).</summary>
static class Sh
{
    public static string Run(string script, string? cwd = null, bool check = true)
    {
        var psi = new ProcessStartInfo("/bin/bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = cwd ?? "/" };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("set -e\n" + script);
        using var p = Process.Start(psi)!;
        var errTask = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var err = errTask.Result;
        if (check && p.ExitCode != 0) Assert.Fail($"command failed ({p.ExitCode}): {script}\nstdout: {output}\nstderr: {err}");
        return output + err;
    }

    public static string Q(string s) => "'" + s.Replace("'", "'\\''") + "'";
}

/// <summary>A private tmpfs per fixture: real xattrs (trusted.*, security.*), devices, and nothing left behind.</summary>
public abstract class TmpfsFixture
{
    protected string Root = "";
    int _n;

    [OneTimeSetUp]
    public void MountTmpfs()
    {
        Root = Path.Combine(Path.GetTempPath(), $"tarlayer-{GetType().Name}-{Environment.ProcessId}");
        Directory.CreateDirectory(Root);
        Sh.Run($"mount -t tmpfs -o size=2g,mode=0755 tarlayer-test {Sh.Q(Root)}");
    }

    [OneTimeTearDown]
    public void UnmountTmpfs()
    {
        // Overlay tests unmount in finally; a lazy unmount here catches anything a crash left.
        Sh.Run($"grep -F ' {Root}/' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l; umount -l {Sh.Q(Root)}; rmdir {Sh.Q(Root)}", check: false);
    }

    protected string NewDir(string hint)
    {
        var d = Path.Combine(Root, $"{hint}-{++_n}");
        Directory.CreateDirectory(d);
        return d;
    }
}

/// <summary>A TmpfsFixture whose tests mount overlays: what a test mounted is unmounted after it, passed or failed.</summary>
public abstract class OverlayFixture : TmpfsFixture
{
    /// <summary>What csshim mounts: an upper that never depends on redirects, an index or metadata-only copy-ups.</summary>
    protected const string ModelOptions = "redirect_dir=off,index=off,metacopy=off";
    readonly List<string> _mounts = new();

    /// <summary>
    /// overlay of lower (colon-separated, top first) under upper, with options; work and merged are fresh directories
    /// unless given. Returns merged.
    /// </summary>
    protected string Mount(string lower, string upper, string options, string? work = null, string? merged = null)
    {
        work ??= NewDir("work");
        merged ??= NewDir("merged");
        Sh.Run($"mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work}{(options.Length > 0 ? "," + options : "")} {Sh.Q(merged)}");
        _mounts.Add(merged);
        return merged;
    }

    /// <summary>Unmount after the test a mount the test made itself (a bind mount).</summary>
    protected void Track(string mountPoint) => _mounts.Add(mountPoint);

    protected void Unmount(string mountPoint)
    {
        Sh.Run($"umount {Sh.Q(mountPoint)}");
        _mounts.Remove(mountPoint);
    }

    [TearDown]
    public void UnmountAll()
    {
        foreach (var m in Enumerable.Reverse(_mounts)) Sh.Run($"umount {Sh.Q(m)}", check: false);
        _mounts.Clear();
    }
}

/// <summary>Every attribute of every node in a tree, as text, for whole-tree comparison.</summary>
static class Tree
{
    /// <summary>
    /// What Describe says of a name readdir lists that is not there: overlayfs filters whiteouts out of readdir only in
    /// the directories it merges (or marks as copied up), so one in a plain upper directory is listed and not found.
    /// </summary>
    public const string ListedButAbsent = "listed by readdir, not found";

    /// <summary>
    /// Every node below root ("." for root itself) as text. mtimeOf says whose mtime counts (default: every node but
    /// symlinks); include filters which nodes (and subtrees) are described.
    /// </summary>
    public static SortedDictionary<string, string> Describe(string root, Func<string, bool>? include = null, Func<string, bool>? mtimeOf = null)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var firstOfInode = new Dictionary<ulong, string>();
        Walk(TarEntry.Raw(root), "", result, firstOfInode, include ?? (_ => true), mtimeOf ?? (_ => true));
        return result;
    }

    static void Walk(string rawRoot, string rel, SortedDictionary<string, string> result, Dictionary<ulong, string> inodes,
        Func<string, bool> include, Func<string, bool> mtimeOf)
    {
        var full = rel.Length == 0 ? rawRoot : rawRoot + "/" + rel;
        int statErr = Fs.LStatAt(-100, full, out var st);
        if (statErr == Fs.ENOENT && rel.Length > 0)
        {
            if (include(rel)) result[rel] = ListedButAbsent;
            return;
        }
        Assert.That(statErr, Is.Zero, $"lstat {full}");
        var sb = new StringBuilder();
        sb.Append($"type={st.Type >> 12:x} mode={Convert.ToString(st.Perm, 8)} uid={st.Uid} gid={st.Gid}");
        if (st.Type != Fs.S_IFLNK && mtimeOf(rel.Length == 0 ? "." : rel)) sb.Append($" mtime={st.MtimeSec}.{st.MtimeNsec:D9}");
        if (st.Type == Fs.S_IFREG)
        {
            if (st.NLink > 1 && inodes.TryGetValue(st.Ino, out var first)) sb.Append($" hardlink-of={first}");
            else
            {
                if (st.NLink > 1) inodes[st.Ino] = rel;
                sb.Append($" size={st.Size} sha={Sha(full)}");
            }
        }
        if (st.Type == Fs.S_IFLNK) sb.Append($" target={Fs.ReadLinkAt(-100, full)}");
        if (st.Type is Fs.S_IFCHR or Fs.S_IFBLK) sb.Append($" rdev={st.RdevMajor}:{st.RdevMinor}");
        // overlayfs's own bookkeeping (origin, uuid, impure) and csshim's marker are not part of the format: never archived or restored.
        Assert.That(Fs.ListXattr(-1, full, out var all), Is.Zero, $"listxattr {full}");
        var names = all.Where(n => !UpperXattrs.IsPrivate(n)).Order(StringComparer.Ordinal);
        foreach (var n in names)
        {
            Assert.That(Fs.GetXattr(-1, full, n, out var value), Is.Zero, $"getxattr {full} {n}");
            sb.Append($" xattr[{n}]={Convert.ToHexString(value)}");
        }
        if (st.Type == Fs.S_IFSOCK) return;
        if (!include(rel)) return;
        result[rel.Length == 0 ? "." : rel] = sb.ToString();
        if (st.Type != Fs.S_IFDIR) return;
        int dirFd = Fs.OpenAt(-100, full, Fs.O_RDONLY | Fs.O_DIRECTORY);
        int readErr = Fs.ReadDir(dirFd, out var children);
        Fs.Close(dirFd);
        Assert.That(readErr, Is.Zero, $"readdir {full}");
        foreach (var name in children.Select(c => c.Name).Order(StringComparer.Ordinal))
            Walk(rawRoot, rel.Length == 0 ? name : rel + "/" + name, result, inodes, include, mtimeOf);
    }

    static string Sha(string rawPath)
    {
        int fd = Fs.OpenAt(-100, rawPath, Fs.O_RDONLY | Fs.O_NOFOLLOW);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), $"open {rawPath}");
        try
        {
            using var h = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buf = new byte[1 << 16];
            int n;
            while ((n = Fs.Read(fd, buf)) > 0) h.AppendData(buf, 0, n);
            return Convert.ToHexString(h.GetHashAndReset())[..16];
        }
        finally { Fs.Close(fd); }
    }

    public static void AssertSame(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual)
    {
        var diffs = new List<string>();
        foreach (var k in expected.Keys.Union(actual.Keys).Order(StringComparer.Ordinal))
        {
            expected.TryGetValue(k, out var e);
            actual.TryGetValue(k, out var a);
            if (e != a) diffs.Add($"{TarEntry.Display(k)}:\n   expected {e ?? "<missing>"}\n   actual   {a ?? "<missing>"}");
        }
        Assert.That(diffs, Is.Empty, string.Join("\n", diffs));
    }

    /// <summary>
    /// A tree with every entry type and attribute an upper layer can hold. withAcls=false for GNU tar,
    /// which does not understand runsc's base64 ACL values.
    /// </summary>
    public static void BuildRich(string dir, bool withAcls = true)
    {
        var longDir = new string('L', 120);
        var longFile = new string('f', 200);
        Sh.Run($$"""
            cd {{Sh.Q(dir)}}
            mkdir -p d/sub e/inner ro sticky {{longDir}}/{{longDir}}
            echo hello > d/f
            head -c 3000001 /dev/urandom > big
            : > empty
            echo deep > {{longDir}}/{{longDir}}/{{longFile}}
            ln d/f hl1; ln d/f d/sub/hl2
            ln -s /abs/target abs; ln -s ../big d/rel; ln -s {{longDir}}/{{longDir}}/{{longFile}} longlink
            mkfifo fifo
            mknod wh c 0 0; chmod 000 wh
            echo x > ro/inside; chmod 0555 ro
            touch suid sgid caps; chmod 4755 suid; chmod 2710 sgid; chmod 1777 sticky
            chown 1234:5678 d/f; chown -h 4000000:3000000 abs; chown 70000:2200000 big
            chown 0:0 caps
            setfattr -n trusted.overlay.opaque -v y e
            setfattr -n security.capability -v 0x0100000200040000000000000000000000000000 caps
            setfattr -n user.bin -v 0x00ff00fe80 d/f
            setfattr -n trusted.utf -v 'plain text' big
            setfattr -h -n trusted.onlink -v 0x01ff abs
            setfattr -n trusted.fifo -v yes fifo
            name=$(printf 'bin\xff\xfename'); echo raw > "$name"
            echo utf > 'ünïcødé'
            python3 -c "import socket; s=socket.socket(socket.AF_UNIX); s.bind('sock')"
            touch -d '2001-02-03 04:05:06.123456789' d/f big
            touch -h -d '1999-12-31 23:59:59.5' abs
            touch -d '1969-07-20 20:17:40' empty
            """);
        if (withAcls)
            Sh.Run($"cd {Sh.Q(dir)}; setfacl -m u:1000:rwx,g:100:r d/f; setfacl -d -m g:100:rx d; setfacl -m u:7:rx d");
        Sh.Run($"cd {Sh.Q(dir)}; touch -d '2010-01-01 00:00:01.000000042' d/sub d e ro . {longDir}/{longDir} {longDir}; chmod 0751 .; chown 5:6 .");
    }
}

/// <summary>Xattr values by path, for assertions.</summary>
static class Xattr
{
    public static byte[]? Get(string path, string name) => Fs.GetXattr(-1, TarEntry.Raw(path), name, out var value) == 0 ? value : null;
}

/// <summary>RLIMIT_NOFILE of this process, lowered for a test and restored after it.</summary>
static partial class FdLimit
{
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct RLimit { public ulong Cur, Max; }

    const int RLIMIT_NOFILE = 7;

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int getrlimit(int resource, out RLimit limit);

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true)]
    private static partial int setrlimit(int resource, in RLimit limit);

    public static ulong Soft => getrlimit(RLIMIT_NOFILE, out var limit) == 0 ? limit.Cur : throw new IOException("getrlimit failed");

    /// <summary>Numbers of the fds open now.</summary>
    public static int[] OpenFds() =>
        Directory.GetFiles("/proc/self/fd").Select(p => int.Parse(Path.GetFileName(p))).Order().ToArray();

    /// <summary>Run body with the soft limit at `soft` (fds numbered soft and above cannot be opened), then restore it.</summary>
    public static T With<T>(ulong soft, Func<T> body)
    {
        Assert.That(getrlimit(RLIMIT_NOFILE, out var saved), Is.Zero);
        Assert.That(setrlimit(RLIMIT_NOFILE, new RLimit { Cur = soft, Max = saved.Max }), Is.Zero);
        try { return body(); }
        finally { setrlimit(RLIMIT_NOFILE, saved); }
    }
}

/// <summary>Archives built from bytes in memory, through the writer's one data path (file data from an fd).</summary>
static class PaxTarWriterData
{
    public static void WriteData(this PaxTarWriter w, ReadOnlySpan<byte> data)
    {
        int fd = Linux.memfd_create("tar-data", Linux.MFD_CLOEXEC);
        Assert.That(fd, Is.GreaterThanOrEqualTo(0), "memfd_create");
        try
        {
            Assert.That(Fs.WriteAll(fd, data, offset: 0), Is.Zero, "write to the memfd");
            long length = data.Length;
            // The writer rethrows what `done` throws: here, or from Finish when the copy ran in the background.
            w.WriteFileData(fd, length, (err, n) =>
            {
                if (err != 0 || n != length) throw new IOException($"file data: errno {err}, {n} of {length} bytes");
            });
        }
        finally { Fs.Close(fd); }
    }
}
