namespace Csshim.TarLayer;

/// <summary>
/// Restores an archive into an empty directory so that it is a valid overlay upperdir. Every path is
/// resolved from a directory fd with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_SYMLINKS) (or an O_NOFOLLOW
/// component walk where openat2 is missing), so nothing an earlier entry made can redirect a later one.
/// </summary>
internal sealed class Extractor : IDisposable
{
    readonly int _root;
    readonly ExtractOptions _options;
    // Directory metadata is applied after all entries: a 0555 directory still receives its files.
    readonly Dictionary<string, TarEntry> _dirs = new(StringComparer.Ordinal);
    TarEntry? _rootEntry;
    // Non-directory paths extracted so far: the only valid hard-link targets.
    readonly HashSet<string> _extracted = new(StringComparer.Ordinal);
    static bool s_noOpenat2;
    string? _cachedParent;
    int _cachedFd = -1;

    public long Entries { get; private set; }
    public long Bytes { get; private set; }

    public Extractor(string destination, ExtractOptions options)
    {
        _options = options;
        _root = Native.OpenAt(-100, TarEntry.Raw(destination), Native.O_RDONLY | Native.O_DIRECTORY);
        if (_root < 0) throw new IOException($"cannot open destination '{destination}': {Native.ErrText(Native.Errno)}");
    }

    public void Dispose()
    {
        DropCache();
        Native.Close(_root);
    }

    void DropCache()
    {
        if (_cachedFd >= 0) Native.Close(_cachedFd);
        _cachedFd = -1; _cachedParent = null;
    }

    public bool IsEmpty() => Native.ReadDir(Native.Dup(_root)).Count == 0;

    public void Run(PaxTarReader reader)
    {
        while (reader.Next() is { } e)
        {
            if (++Entries > _options.MaxEntries)
                throw new ArchiveRejectedException($"entry '{TarEntry.Display(e.Name)}': archive exceeds the entry budget of {_options.MaxEntries} entries");
            e.Xattrs.RemoveAll(x => OverlayXattrs.IsPrivate(x.Key));
            Extract(e, reader);
        }
        DropCache();
        FinishDirectories();
    }

    void Extract(TarEntry e, PaxTarReader reader)
    {
        var rel = EntryPath.Normalize(e.Name);
        if (rel.Length == 0)
        {
            if (e.Type != TarEntryType.Directory) throw Reject(e, "the root entry is not a directory");
            _rootEntry = e;
            return;
        }
        if (e.Type is TarEntryType.CharDevice or TarEntryType.BlockDevice && !e.IsWhiteout && !_options.AllowDevices)
            throw Reject(e, $"device nodes are not allowed ({(e.Type == TarEntryType.CharDevice ? "char" : "block")} {e.DevMajor}/{e.DevMinor})");

        string? linkTarget = null;
        if (e.Type == TarEntryType.HardLink)
        {
            linkTarget = EntryPath.Normalize(e.LinkName, "hard link target", e.Name);
            if (linkTarget == rel) throw Reject(e, "hard link to itself");
            if (!_extracted.Contains(linkTarget))
                throw Reject(e, $"hard link target '{TarEntry.Display(e.LinkName)}' was not extracted before it");
        }
        if (e.Type == TarEntryType.Symlink && (e.LinkName.Length == 0 || e.LinkName.Length >= EntryPath.PathMax || e.LinkName.Contains('\0')))
            throw Reject(e, "invalid symlink target");

        var (parent, leaf) = EntryPath.Split(rel);
        int pfd = ParentFd(parent, e);

        switch (e.Type)
        {
            case TarEntryType.Directory:
                if (Native.MkdirAt(pfd, leaf, 0x1C0 /* 0700 */) != 0)
                {
                    if (Native.Errno != Native.EEXIST) throw OsError(e, "mkdir", Native.Errno);
                    if (ReplaceExisting(pfd, leaf, e)) Check(Native.MkdirAt(pfd, leaf, 0x1C0 /* 0700 */), e, "mkdir");
                }
                _dirs[rel] = e;
                return;
            case TarEntryType.File:
                WriteFile(pfd, leaf, e, reader);
                break;
            case TarEntryType.Symlink:
                CreateLeaf(() => Native.SymlinkAt(e.LinkName, pfd, leaf), pfd, leaf, e, "symlink");
                ApplyPathMetadata(pfd, leaf, e, chmod: false);
                break;
            case TarEntryType.HardLink:
                var (tparent, tleaf) = EntryPath.Split(linkTarget!);
                int tfd = tparent == parent ? pfd : ResolveDir(tparent, e, create: false);
                try { CreateLeaf(() => Native.LinkAt(tfd, tleaf, pfd, leaf), pfd, leaf, e, "link"); }
                finally { if (tfd != pfd && tfd != _root) Native.Close(tfd); }
                break;
            case TarEntryType.Fifo:
            case TarEntryType.CharDevice:
            case TarEntryType.BlockDevice:
                uint type = e.Type switch { TarEntryType.Fifo => Native.S_IFIFO, TarEntryType.CharDevice => Native.S_IFCHR, _ => Native.S_IFBLK };
                CreateLeaf(() => Native.MknodAt(pfd, leaf, type | 0x180 /* 0600 */, e.DevMajor, e.DevMinor), pfd, leaf, e, "mknod");
                ApplyPathMetadata(pfd, leaf, e, chmod: true);
                break;
        }
        _extracted.Add(rel);
    }

    /// <summary>Create a node; when the name exists (a duplicate entry) replace it once, as tar(1) does.</summary>
    void CreateLeaf(Func<int> create, int pfd, string leaf, TarEntry e, string op)
    {
        if (create() >= 0) return;
        if (Native.Errno != Native.EEXIST) throw OsError(e, op, Native.Errno);
        ReplaceExisting(pfd, leaf, e);
        Check(create(), e, op);
    }

    /// <summary>
    /// A later entry with the same name replaces a non-directory. Returns false when a directory
    /// entry meets an existing directory (merge); refuses a non-directory over a directory.
    /// </summary>
    bool ReplaceExisting(int pfd, string leaf, TarEntry e)
    {
        if (Native.LStatAt(pfd, leaf, out var st) != 0) return true;
        if (st.Type == Native.S_IFDIR)
        {
            if (e.Type == TarEntryType.Directory) return false;
            throw Reject(e, "a directory of that name already exists");
        }
        Check(Native.UnlinkAt(pfd, leaf, 0), e, "unlink");
        return true;
    }

    void WriteFile(int pfd, string leaf, TarEntry e, PaxTarReader reader)
    {
        if (e.Size > _options.MaxBytes - Bytes)
            throw Reject(e, $"size {e.Size} exceeds the byte budget of {_options.MaxBytes} bytes");
        const int flags = Native.O_WRONLY | Native.O_CREAT | Native.O_EXCL | Native.O_NOFOLLOW;
        int fd = Native.OpenAt(pfd, leaf, flags, 0x180 /* 0600 */);
        if (fd < 0 && Native.Errno == Native.EEXIST)
        {
            ReplaceExisting(pfd, leaf, e);
            fd = Native.OpenAt(pfd, leaf, flags, 0x180 /* 0600 */);
        }
        Check(fd, e, "create");
        try
        {
            while (true)
            {
                var chunk = reader.ReadData();
                if (chunk.IsEmpty) break;
                int err = Native.WriteAll(fd, chunk);
                if (err != 0) throw OsError(e, "write", err);
                Bytes += chunk.Length;
            }
            // chown clears setuid/setgid and security.capability, so it goes first, then mode, then xattrs.
            Check(Native.Fchown(fd, e.Uid, e.Gid), e, "chown");
            Check(Native.Fchmod(fd, e.Mode), e, "chmod");
            foreach (var (name, value) in e.Xattrs)
                Check(Native.FSetXattr(fd, name, XattrValue(e, name, value)), e, $"setxattr {TarEntry.Display(name)}");
            Check(Native.Futimens(fd, e.MtimeSec, e.MtimeNsec), e, "utimens");
        }
        finally { Native.Close(fd); }
    }

    /// <summary>Owner, mode, xattrs, mtime of a node that cannot be opened for writing (symlink, FIFO, device).</summary>
    void ApplyPathMetadata(int pfd, string leaf, TarEntry e, bool chmod)
    {
        Check(Native.LchownAt(pfd, leaf, e.Uid, e.Gid), e, "lchown");
        if (chmod) Check(Native.ChmodAt(pfd, leaf, e.Mode), e, "chmod");
        if (e.Xattrs.Count > 0)
        {
            // /proc/self/fd/N is followed as a directory; the leaf itself is not (lsetxattr).
            var path = $"/proc/self/fd/{pfd}/{leaf}";
            foreach (var (name, value) in e.Xattrs)
                Check(Native.LSetXattr(path, name, XattrValue(e, name, value)), e, $"setxattr {TarEntry.Display(name)}");
        }
        Check(Native.LutimesAt(pfd, leaf, e.MtimeSec, e.MtimeNsec), e, "utimens");
    }

    /// <summary>ACLs arrive base64-encoded from runsc and raw from GNU tar; the kernel wants raw.</summary>
    static byte[] XattrValue(TarEntry e, string name, byte[] value)
    {
        if (!Acl.IsAclXattr(name) || Acl.IsRaw(value)) return value;
        return Acl.DecodeBase64(value) ?? throw Reject(e, $"xattr {name} is neither a raw ACL nor base64");
    }

    void FinishDirectories()
    {
        foreach (var (rel, e) in _dirs.OrderByDescending(kv => kv.Key.Count(c => c == '/')))
        {
            int fd = ResolveDir(rel, e, create: false);
            try { ApplyFdMetadata(fd, e); }
            finally { Native.Close(fd); }
        }
        if (_rootEntry != null) ApplyFdMetadata(_root, _rootEntry);
    }

    void ApplyFdMetadata(int fd, TarEntry e)
    {
        Check(Native.Fchown(fd, e.Uid, e.Gid), e, "chown");
        Check(Native.Fchmod(fd, e.Mode), e, "chmod");
        foreach (var (name, value) in e.Xattrs)
            Check(Native.FSetXattr(fd, name, XattrValue(e, name, value)), e, $"setxattr {TarEntry.Display(name)}");
        Check(Native.Futimens(fd, e.MtimeSec, e.MtimeNsec), e, "utimens");
    }

    int ParentFd(string parent, TarEntry e)
    {
        if (parent.Length == 0) return _root;
        if (_cachedParent == parent) return _cachedFd;
        DropCache();
        _cachedFd = ResolveDir(parent, e, create: true);
        _cachedParent = parent;
        return _cachedFd;
    }

    /// <summary>Open a directory below the root without following any symlink; missing parents are made (0755) when create.</summary>
    int ResolveDir(string rel, TarEntry e, bool create)
    {
        if (rel.Length == 0) return Native.Dup(_root);
        if (!s_noOpenat2)
        {
            int fd = Native.OpenAt2(_root, rel, Native.O_RDONLY | Native.O_DIRECTORY,
                Native.RESOLVE_IN_ROOT | Native.RESOLVE_NO_SYMLINKS | Native.RESOLVE_NO_MAGICLINKS);
            if (fd >= 0) return fd;
            int err = Native.Errno;
            if (err == Native.ENOSYS || err == Native.EPERM) s_noOpenat2 = true; // seccomp may say EPERM
            else if (err != Native.ENOENT) throw PathError(e, err);
            else if (!create) throw Reject(e, "path not found in the destination");
        }
        // Component walk: each step is openat(O_NOFOLLOW|O_DIRECTORY) from the previous directory fd.
        int cur = Native.Dup(_root);
        foreach (var comp in rel.Split('/'))
        {
            int next = Native.OpenAt(cur, comp, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOFOLLOW);
            if (next < 0 && Native.Errno == Native.ENOENT && create)
            {
                int mk = Native.MkdirAt(cur, comp, 0x1ED /* 0755 */);
                if (mk != 0 && Native.Errno != Native.EEXIST) { int err = Native.Errno; Native.Close(cur); throw OsError(e, "mkdir parent", err); }
                next = Native.OpenAt(cur, comp, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOFOLLOW);
            }
            int errno = Native.Errno;
            Native.Close(cur);
            if (next < 0) throw PathError(e, errno);
            cur = next;
        }
        return cur;
    }

    Exception PathError(TarEntry e, int errno) => errno switch
    {
        Native.ELOOP or Native.EXDEV => Reject(e, "path passes through a symlink (would escape the destination)"),
        Native.ENOTDIR => Reject(e, "path passes through a symlink or non-directory"),
        Native.ENOENT => Reject(e, "path not found in the destination"),
        _ => OsError(e, "open parent", errno),
    };

    static ArchiveRejectedException Reject(TarEntry e, string reason) =>
        new($"entry '{TarEntry.Display(e.Name)}': {reason}");

    static Exception OsError(TarEntry e, string op, int errno)
    {
        if (errno is Native.ENOSPC or Native.EDQUOT)
            return new LayerFullException($"entry '{TarEntry.Display(e.Name)}': upper layer full ({op}: {Native.ErrText(errno)})");
        return new IOException($"entry '{TarEntry.Display(e.Name)}': {op} failed: {Native.ErrText(errno)}");
    }

    static void Check(int rc, TarEntry e, string op, int okErrno = 0)
    {
        if (rc >= 0) return;
        int errno = Native.Errno;
        if (okErrno != 0 && errno == okErrno) return;
        throw OsError(e, op, errno);
    }

    /// <summary>Remove everything below the destination (never following symlinks): a failed restore leaves nothing.</summary>
    public void RemoveAllChildren() { DropCache(); RemoveChildren(_root); }

    static void RemoveChildren(int dirfd)
    {
        foreach (var (name, dtype) in Native.ReadDir(Native.Dup(dirfd)))
        {
            if (Native.UnlinkAt(dirfd, name, 0) == 0) continue;
            int sub = Native.OpenAt(dirfd, name, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOFOLLOW);
            if (sub < 0) continue;
            try { RemoveChildren(sub); }
            finally { Native.Close(sub); }
            Native.UnlinkAt(dirfd, name, Native.AT_REMOVEDIR);
        }
    }
}
