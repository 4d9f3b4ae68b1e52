using Mono.Unix.Native;
using Csshim.TarLayer.Posix;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Csshim.ShimRuntime.Staging;

/// <summary>The archive an annotation names does not exist (any more).</summary>
internal sealed class ArchiveMissingException(string message) : ShimException(message);

/// <summary>The archive an annotation names, opened under csshim's policy before anything is staged: csshim runs as
/// root on a path any container author chooses, so it reads only root-controlled regular files inside the allowed
/// directories, and never one that could block (a FIFO) or never end (/dev/zero).</summary>
internal sealed class ArchiveSource : IDisposable
{
    public string RequestedPath { get; }
    public string ResolvedPath { get; }
    /// <summary>The opened file as the kernel knows it (device, inode, size, change and modification times): any
    /// rewrite or replacement of the archive changes it, so it keys csshim's layer cache without reading the data.</summary>
    public string FileIdentity { get; }
    /// <summary>The digest the spec pins (lower-case hex), or null.</summary>
    public string? PinnedSha256 => expectedSha256;
    /// <summary>What a restore reads: the first pass hashes as it goes when a digest is pinned; after
    /// <see cref="Rewind"/>, the file itself from its start.</summary>
    public Stream Stream { get; private set; }

    private readonly FileStream file;
    private readonly SHA256? hash;
    private readonly string? expectedSha256;

    private ArchiveSource(string requested, string resolved, string identity, FileStream file, string? expectedSha256)
    {
        RequestedPath = requested;
        ResolvedPath = resolved;
        FileIdentity = identity;
        this.file = file;
        this.expectedSha256 = expectedSha256?.ToLowerInvariant();
        if (expectedSha256 is null)
        {
            Stream = file;
        }
        else
        {
            hash = SHA256.Create();
            Stream = new CryptoStream(file, hash, CryptoStreamMode.Read, leaveOpen: true);
        }
    }

    /// <param name="pinKey">The annotation that pins the digest, for messages.</param>
    public static ArchiveSource Open(string path, string bundleDir, IReadOnlyList<string> allowedDirs, string? expectedSha256, string pinKey)
    {
        if (expectedSha256 is not null && (expectedSha256.Length != 64 || !expectedSha256.All(Uri.IsHexDigit)))
            throw new ShimException($"annotation {pinKey}: pinned sha256 \"{expectedSha256}\" is not 64 hex digits");
        var requested = Path.IsPathRooted(path) ? path : Path.Combine(bundleDir, path);
        int fd = Linux.Open(requested, Linux.O_RDONLY | Linux.O_NONBLOCK | Linux.O_NOCTTY, 0);
        if (fd < 0)
        {
            int errno = Linux.LastErrno;
            var message = $"cannot open rootfs upper archive {requested}: {Linux.Error(errno)}";
            throw errno == Linux.ENOENT ? new ArchiveMissingException(message) : new ShimException(message);
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        try
        {
            // The path the kernel actually opened, so a symlink swapped after a check cannot redirect the read.
            var resolved = new FileInfo($"/proc/self/fd/{fd}").LinkTarget ?? requested;
            var st = Check(requested, resolved, fd, allowedDirs);
            var identity = $"dev={st.st_dev} ino={st.st_ino} size={st.st_size} ctime={st.st_ctime}.{st.st_ctime_nsec:D9} mtime={st.st_mtime}.{st.st_mtime_nsec:D9}";
            return new ArchiveSource(requested, resolved, identity, new FileStream(handle, FileAccess.Read, bufferSize: 0), expectedSha256);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>After the restore: the whole file (also what follows the end-of-archive blocks) must match the pin.</summary>
    public void VerifyDigest()
    {
        if (hash is null) return;
        Stream.CopyTo(Stream.Null); // the end of the file finalizes the hash
        var actual = Convert.ToHexStringLower(hash.Hash!);
        if (actual != expectedSha256)
            throw new ShimException($"rootfs upper archive {RequestedPath} has sha256 {actual}, but {expectedSha256} is pinned");
    }

    /// <summary>Back to the start of the file for a second pass (validate, then apply); the digest, if pinned, was
    /// checked on the first. Only root can change the file in between (the policy refuses any other writer).</summary>
    public void Rewind()
    {
        if (!ReferenceEquals(Stream, file)) Stream.Dispose();
        file.Seek(0, SeekOrigin.Begin);
        Stream = file;
    }

    private static Stat Check(string requested, string resolved, int fd, IReadOnlyList<string> allowedDirs)
    {
        string named = requested == resolved ? requested : $"{requested} (resolves to {resolved})";
        if (Syscall.fstat(fd, out var st) != 0)
            throw new ShimException($"cannot stat rootfs upper archive {named}: {Linux.Error(Linux.LastErrno)}");
        if ((st.st_mode & FilePermissions.S_IFMT) != FilePermissions.S_IFREG)
            throw new ShimException($"rootfs upper archive {named} is not a regular file (it is {KindOf(st.st_mode)})");
        if (st.st_uid != 0)
            throw new ShimException($"rootfs upper archive {named} is owned by uid {st.st_uid}, not root");
        if ((st.st_mode & (FilePermissions.S_IWGRP | FilePermissions.S_IWOTH)) != 0)
            throw new ShimException($"rootfs upper archive {named} is writable by group or others (mode {Convert.ToString((uint)st.st_mode & 0xFFF, 8)})");
        if (allowedDirs.Count > 0 && !allowedDirs.Any(d => IsUnder(resolved, d)))
            throw new ShimException($"rootfs upper archive {named} is outside the allowed directories ({string.Join(", ", allowedDirs)})");
        return st;
    }

    private static bool IsUnder(string path, string dir)
    {
        var real = Linux.RealPath(dir);
        return real is not null && path.StartsWith(Path.TrimEndingDirectorySeparator(real) + "/", StringComparison.Ordinal);
    }

    private static string KindOf(FilePermissions mode) => (mode & FilePermissions.S_IFMT) switch
    {
        FilePermissions.S_IFDIR => "a directory",
        FilePermissions.S_IFIFO => "a FIFO",
        FilePermissions.S_IFCHR => "a character device",
        FilePermissions.S_IFBLK => "a block device",
        FilePermissions.S_IFSOCK => "a socket",
        _ => "not a file",
    };

    public void Dispose()
    {
        Stream.Dispose();
        file.Dispose();
        hash?.Dispose();
    }
}
