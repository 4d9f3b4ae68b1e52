using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// Writes admitted entries (RestoreRules) below a destination directory fd with *at calls only: every parent is
/// opened with BeneathPath (no symlink followed, no mount crossed), every node is made relative to that fd
/// (O_CREAT|O_EXCL|O_NOFOLLOW, mknodat, symlinkat, linkat without AT_SYMLINK_FOLLOW), so nothing in the tree can
/// redirect a write. What is already at a name is replaced the way an upper directory would shadow it: a directory
/// entry merges with a directory and replaces anything else, any other entry replaces whatever is there. Subclasses
/// decide whiteouts, which xattrs go through and how directories are finished.
/// </summary>
internal abstract class TreeRestorer : IDisposable
{
    protected readonly int Root;
    string? _cachedParent;
    int _cachedFd = -1;
    readonly FileRangeCopier _copier = new();
    readonly BackgroundCopies _copies = new(depth: 16, inlineWhenFull: true);
    // Buffers for small files' data handed to the worker; at most depth + 2 exist.
    readonly System.Collections.Concurrent.ConcurrentBag<byte[]> _smallBuffers = new();

    protected TreeRestorer(string destination)
    {
        Root = Fs.OpenAt(-100, TarEntry.Raw(destination), Fs.O_RDONLY | Fs.O_DIRECTORY);
        if (Root < 0) throw new IOException($"cannot open destination '{destination}': {Fs.ErrText(Fs.Errno)}");
    }

    public void Dispose()
    {
        _copies.Dispose();
        DropCache();
        _copier.Dispose();
        Fs.Close(Root);
    }

    protected void DropCache()
    {
        if (_cachedFd >= 0) Fs.Close(_cachedFd);
        _cachedFd = -1; _cachedParent = null;
    }

    public void Apply(RestoreStep s, PaxTarReader reader)
    {
        if (s.Action == StepAction.Root) return;
        Applying(s);
        int pfd = ParentFd(s);
        var e = s.Entry;
        switch (s.Action)
        {
            case StepAction.Directory:
                if (Fs.MkdirAt(pfd, s.Leaf, 0x1C0 /* 0700 */) == 0) return;
                if (Fs.Errno != Fs.EEXIST) throw OsError(e.Name, "mkdir", Fs.Errno);
                if (Fs.LStatAt(pfd, s.Leaf, out var st) == 0 && st.Type == Fs.S_IFDIR && !ReplacesDirectory(s)) return; // merge
                RemoveExisting(pfd, s.Leaf, e.Name);
                Check(Fs.MkdirAt(pfd, s.Leaf, 0x1C0 /* 0700 */), e.Name, "mkdir");
                return;
            case StepAction.File:
                WriteFile(pfd, s.Leaf, e, reader);
                return;
            case StepAction.Symlink:
                CreateLeaf(() => Fs.SymlinkAt(e.LinkName, pfd, s.Leaf), pfd, s.Leaf, e, "symlink");
                ApplyPathMetadata(pfd, s.Leaf, e, chmod: false);
                return;
            case StepAction.HardLink when s.Kind == NodeKind.Whiteout && !LinksWhiteouts:
                Whiteout(pfd, s);
                return;
            case StepAction.HardLink:
                var (tparent, tleaf) = EntryPath.Split(s.LinkTarget!);
                int tfd = tparent == s.Parent ? pfd : OpenDir(tparent, e.Name);
                try { CreateLeaf(() => Fs.LinkAt(tfd, tleaf, pfd, s.Leaf), pfd, s.Leaf, e, "link"); }
                finally { if (tfd != pfd) Fs.Close(tfd); }
                return;
            case StepAction.Whiteout:
                Whiteout(pfd, s);
                return;
            case StepAction.Node:
                CreateNode(pfd, s.Leaf, e);
                return;
        }
    }

    /// <summary>Make the entry's FIFO or device node (a 0/0 character device for a whiteout).</summary>
    protected void CreateNode(int pfd, string leaf, TarEntry e)
    {
        uint type = e.Type switch { TarEntryType.Fifo => Fs.S_IFIFO, TarEntryType.CharDevice => Fs.S_IFCHR, _ => Fs.S_IFBLK };
        CreateLeaf(() => Fs.MknodAt(pfd, leaf, type | 0x180 /* 0600 */, e.DevMajor, e.DevMinor), pfd, leaf, e, "mknod");
        ApplyPathMetadata(pfd, leaf, e, chmod: true);
    }

    /// <summary>A whiteout entry, or a hard link to one (GNU tar archives overlayfs's shared whiteout inode that way).</summary>
    protected abstract void Whiteout(int pfd, RestoreStep s);

    /// <summary>Whether a hard link to a whiteout is made as a link (true) or handed to Whiteout (false).</summary>
    protected abstract bool LinksWhiteouts { get; }

    /// <summary>Called before each entry below the root is written.</summary>
    protected virtual void Applying(RestoreStep s) { }

    /// <summary>Whether a directory entry replaces a directory already there instead of merging with it.</summary>
    protected virtual bool ReplacesDirectory(RestoreStep s) => false;

    /// <summary>Whether this xattr of an entry is set on the node (false: it was interpreted instead).</summary>
    protected virtual bool Sets(string xattrName) => true;

    /// <summary>
    /// Called before an entry's metadata is applied to a node (fd, or path when fd is -1): a node that was already
    /// there, or that inherited a default ACL, may hold xattrs the entry does not have.
    /// </summary>
    protected virtual void BeforeMetadata(int fd, string? path, TarEntry e) { }

    /// <summary>
    /// Directory metadata goes last, deepest first, the root at the very end: a 0555 directory still receives its
    /// files and a directory's mtime is not moved by its children. A directory only implied by its children gets
    /// what mkdir gave Extract: mode 0755, the restoring user, no xattrs (its mtime is left alone).
    /// </summary>
    public void Finish(RestoreRules rules)
    {
        _copies.Drain();
        FinishTree(rules);
    }

    /// <summary>After every entry and every file copy: directory metadata (subclasses add their removals first).</summary>
    protected virtual void FinishTree(RestoreRules rules)
    {
        DropCache();
        foreach (var (rel, e) in rules.DirectoriesDeepestFirst())
        {
            var entry = e ?? new TarEntry
            {
                Type = TarEntryType.Directory, Name = "./" + rel + "/", Mode = 0x1ED, Uid = Fs.EffectiveUid, Gid = Fs.EffectiveGid,
            };
            int fd = OpenDir(rel, entry.Name);
            try { ApplyFdMetadata(fd, entry, setTimes: e != null); }
            finally { Fs.Close(fd); }
        }
        if (rules.RootEntry is { } root) ApplyFdMetadata(Root, root);
    }

    /// <summary>Create a node; when the name is taken, remove what is there (a directory with all below it) and create again.</summary>
    void CreateLeaf(Func<int> create, int pfd, string leaf, TarEntry e, string op)
    {
        if (create() >= 0) return;
        if (Fs.Errno != Fs.EEXIST) throw OsError(e.Name, op, Fs.Errno);
        RemoveExisting(pfd, leaf, e.Name);
        Check(create(), e.Name, op);
    }

    protected static void RemoveExisting(int pfd, string leaf, string entry)
    {
        if (TreeRemover.Remove(pfd, leaf) is { } failure) throw RemoveError(entry, failure);
    }

    static Exception RemoveError(string entry, RemoveFailure f) =>
        f.Errno is Fs.ENOSPC or Fs.EDQUOT
            ? OsError(entry, $"{f.Op} {TarEntry.Display(f.Path)}", f.Errno)
            : new IOException($"entry '{TarEntry.Display(entry)}': cannot remove what is there: {f.Reason}");

    void WriteFile(int pfd, string leaf, TarEntry e, PaxTarReader reader)
    {
        int flags = Fs.O_WRONLY | Fs.O_CREAT | Fs.O_EXCL | Fs.O_NOFOLLOW;
        // Created with its final mode when that is what the file will get anyway (see NewNodes), else 0600 until chmod.
        bool exactMode = NewNodes.CreatesWithMode(e.Mode);
        uint createMode = exactMode ? e.Mode : 0x180 /* 0600 */;
        int fd = Fs.OpenAt(pfd, leaf, flags, createMode);
        if (fd < 0 && Fs.Errno == Fs.EEXIST)
        {
            RemoveExisting(pfd, leaf, e.Name);
            fd = Fs.OpenAt(pfd, leaf, flags, createMode);
        }
        Check(fd, e.Name, "create");
        try
        {
            if (e.Size < PaxTarReader.DirectMin && _copies.HasRoom)
            {
                // A small file: its data is copied out of the read-ahead buffer, the worker writes it and the metadata.
                var data = _smallBuffers.TryTake(out var spare) ? spare : new byte[PaxTarReader.DirectMin];
                int len = 0;
                for (var chunk = reader.ReadData(); !chunk.IsEmpty; chunk = reader.ReadData())
                {
                    chunk.CopyTo(data.AsSpan(len));
                    len += chunk.Length;
                }
                int small = fd;
                _copies.Submit(new(_ => FinishSmallFile(small, data.AsSpan(0, len), e), () => { Fs.Close(small); _smallBuffers.Add(data); }));
                fd = -1;
                return;
            }
            if (reader.CopyDataTo(fd, _copier, defer: true, out var rest) is var err and not 0) throw OsError(e.Name, "write", err);
            if (rest is { } range)
            {
                // The worker copies the rest, applies the metadata and closes the file.
                int owned = fd;
                _copies.Submit(new(copier => FinishFile(copier, owned, range, e), () => Fs.Close(owned)));
                fd = -1;
                return;
            }
            ApplyFdMetadata(fd, e, created: true);
        }
        finally { Fs.Close(fd); }
    }

    void FinishSmallFile(int fd, ReadOnlySpan<byte> data, TarEntry e)
    {
        if (Fs.WriteAll(fd, data) is var err and not 0) throw OsError(e.Name, "write", err);
        ApplyFdMetadata(fd, e, created: true);
    }

    void FinishFile(FileRangeCopier copier, int fd, ArchiveRange range, TarEntry e)
    {
        if (copier.Copy(range.Fd, range.Offset, fd, -1, range.Length, out var moved) is var err and not 0) throw OsError(e.Name, "write", err);
        if (moved < range.Length) throw RestoreRules.Reject(e.Name, "archive truncated");
        ApplyFdMetadata(fd, e, created: true);
    }

    /// <summary>A failed restore: file copies not started yet are dropped, the one running is waited for.</summary>
    protected void AbandonCopies() => _copies.Abandon();

    /// <summary>
    /// What a node this restore creates gets from the kernel, when that is known; Unknown by default. Extract knows it
    /// (Extractor): every parent there is a directory it made itself, without a setgid bit or a default ACL until the
    /// directory metadata is applied at the end.
    /// </summary>
    protected virtual NewNodeDefaults NewNodes => NewNodeDefaults.Unknown;

    /// <summary>Owner, mode, xattrs, mtime through an open fd (files, directories).</summary>
    /// <param name="created">The node was just created by this restore (with NewNodes' defaults).</param>
    void ApplyFdMetadata(int fd, TarEntry e, bool setTimes = true, bool created = false)
    {
        BeforeMetadata(fd, null, e);
        // chown clears setuid/setgid and security.capability, so it goes first, then mode, then xattrs. A call that
        // cannot change anything on a node just created with known defaults is left out.
        if (!(created && NewNodes.OwnedAs(e.Uid, e.Gid))) Check(Fs.Fchown(fd, e.Uid, e.Gid), e.Name, "chown");
        if (!(created && NewNodes.CreatesWithMode(e.Mode))) Check(Fs.Fchmod(fd, e.Mode), e.Name, "chmod");
        foreach (var (name, value) in e.Xattrs)
            if (Sets(name)) Check(Fs.FSetXattr(fd, name, value), e.Name, $"setxattr {TarEntry.Display(name)}");
        if (setTimes) Check(Fs.Futimens(fd, e.MtimeSec, e.MtimeNsec), e.Name, "utimens");
    }

    /// <summary>Owner, mode, xattrs, mtime of a node that cannot be opened for writing (symlink, FIFO, device).</summary>
    void ApplyPathMetadata(int pfd, string leaf, TarEntry e, bool chmod)
    {
        // /proc/self/fd/N is followed as a directory; the leaf itself is not (l*xattr).
        var path = $"/proc/self/fd/{pfd}/{leaf}";
        BeforeMetadata(-1, path, e);
        Check(Fs.LchownAt(pfd, leaf, e.Uid, e.Gid), e.Name, "lchown");
        if (chmod) Check(Fs.ChmodAt(pfd, leaf, e.Mode), e.Name, "chmod");
        foreach (var (name, value) in e.Xattrs)
            if (Sets(name)) Check(Fs.LSetXattr(path, name, value), e.Name, $"setxattr {TarEntry.Display(name)}");
        Check(Fs.LutimesAt(pfd, leaf, e.MtimeSec, e.MtimeNsec), e.Name, "utimens");
    }

    int ParentFd(RestoreStep s)
    {
        if (s.Parent.Length == 0) return Root;
        if (_cachedParent == s.Parent) return _cachedFd;
        DropCache();
        _cachedFd = s.ImpliedParents.Count == 0 ? OpenDir(s.Parent, s.Entry.Name) : MakeParents(s);
        _cachedParent = s.Parent;
        return _cachedFd;
    }

    /// <summary>
    /// Open the known part of the parent path, then make each implied parent a directory (0755): a missing one is
    /// created, a non-directory there (an image's symlink such as /bin -> usr/bin, which an upper directory would
    /// shadow) is replaced, a directory is entered as it is.
    /// </summary>
    int MakeParents(RestoreStep s)
    {
        var e = s.Entry;
        var known = EntryPath.Split(s.ImpliedParents[0]).Parent;
        int cur = known.Length == 0 ? Fs.Dup(Root) : OpenDir(known, e.Name);
        try
        {
            foreach (var dir in s.ImpliedParents)
            {
                var leaf = EntryPath.Split(dir).Leaf;
                int next = Fs.OpenAt(cur, leaf, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
                if (next < 0)
                {
                    int err = Fs.Errno;
                    if (err is Fs.ENOTDIR or Fs.ELOOP) RemoveExisting(cur, leaf, e.Name);
                    else if (err != Fs.ENOENT) throw OsError(e.Name, "open parent", err);
                    if (Fs.MkdirAt(cur, leaf, 0x1ED /* 0755 */) != 0 && Fs.Errno != Fs.EEXIST) throw OsError(e.Name, "mkdir parent", Fs.Errno);
                    next = Fs.OpenAt(cur, leaf, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
                    if (next < 0) throw OsError(e.Name, "open parent", Fs.Errno);
                }
                Fs.Close(cur);
                cur = next;
                if (BeneathPath.MountOf(cur, out var mount) is var serr and not 0) throw OsError(e.Name, "stat parent", serr);
                if (mount != RootMount) throw MountCrossing(e.Name, dir);
            }
            return cur;
        }
        catch
        {
            Fs.Close(cur);
            throw;
        }
    }

    ulong? _rootMount;
    ulong RootMount => _rootMount ??= StatRootMount();

    ulong StatRootMount()
    {
        int err = BeneathPath.MountOf(Root, out var mount);
        return err == 0 ? mount : throw new IOException($"cannot stat the destination: {Fs.ErrText(err)}");
    }

    /// <summary>Open a directory this archive made (or merged) below the destination, for the named entry.</summary>
    protected int OpenDir(string rel, string entry)
    {
        int fd = BeneathPath.OpenDir(Root, rel, sameMount: true, out int errno);
        if (fd >= 0) return fd;
        throw errno switch
        {
            Fs.ELOOP => RestoreRules.Reject(entry, "path passes through a symlink (would escape the destination)"),
            Fs.ENOTDIR => RestoreRules.Reject(entry, "path passes through a symlink or non-directory"),
            Fs.ENOENT => RestoreRules.Reject(entry, "path not found in the destination"),
            Fs.EXDEV => MountCrossing(entry, rel),
            _ => OsError(entry, "open directory", errno),
        };
    }

    /// <summary>An OS error while writing the named entry; ENOSPC/EDQUOT mean the upper layer is full.</summary>
    protected static Exception OsError(string entry, string op, int errno)
    {
        if (errno is Fs.ENOSPC or Fs.EDQUOT)
            return new LayerFullException($"entry '{TarEntry.Display(entry)}': upper layer full ({op}: {Fs.ErrText(errno)})", op);
        return new IOException($"entry '{TarEntry.Display(entry)}': {op} failed: {Fs.ErrText(errno)}");
    }

    static IOException MountCrossing(string entry, string rel) =>
        new($"entry '{TarEntry.Display(entry)}': '{TarEntry.Display(rel)}' is or crosses a mount point (a restore never writes across mounts)");

    protected static void Check(int rc, string entry, string op)
    {
        if (rc < 0) throw OsError(entry, op, Fs.Errno);
    }
}
