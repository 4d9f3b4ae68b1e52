using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// Applies an archive through a live tree, normally the merged directory of the overlay an engine mounted as a
/// container's rootfs, so that the tree then looks exactly as it would with the archive extracted into an empty upper
/// directory mounted over the tree's previous content. What an upper directory shadows is replaced, what it deletes
/// (whiteouts, opaque directories) is removed through the tree, which the engine's overlay turns into its own
/// whiteouts and opaque directories. overlayfs markers are interpreted, never set through the overlay.
/// Removals that depend on the archive's final word for a path (a whiteout that a later entry turns back into a
/// directory, an opaque directory whose last entry is not opaque) wait until every entry is in. Applying an archive
/// again over the result, complete or interrupted, gives the same tree.
/// </summary>
internal sealed class InPlaceApplier(string rootfsDir) : TreeRestorer(rootfsDir)
{
    readonly List<RestoreStep> _whiteouts = new();
    // Every directory that has had something of this archive written below it so far.
    readonly HashSet<string> _written = new(StringComparer.Ordinal);

    protected override void Applying(RestoreStep s)
    {
        for (var parent = s.Parent; parent.Length > 0 && _written.Add(parent); parent = EntryPath.Split(parent).Parent) { }
    }

    /// <summary>
    /// An opaque directory that arrives before anything of the archive below it (the order runsc and csshim write)
    /// replaces the tree's directory outright: overlayfs records a directory made over a removed one as opaque in its
    /// upper, so a snapshot taken later carries the marker again. Children listed before their opaque parent are
    /// kept; that directory is emptied in Finish instead.
    /// </summary>
    protected override bool ReplacesDirectory(RestoreStep s) => UpperXattrs.MarksOpaque(s.Entry) && !_written.Contains(s.Rel);

    protected override bool LinksWhiteouts => false;

    protected override void Whiteout(int pfd, RestoreStep s) => _whiteouts.Add(s);

    protected override bool Sets(string xattrName) => !UpperXattrs.IsOpaqueMarker(xattrName);

    /// <summary>
    /// The node ends with the entry's xattrs only, as a node in a fresh upper directory would: what the tree had
    /// (a merged image directory) or what the node inherited (a default ACL of the image) is removed. Private xattrs
    /// (overlay bookkeeping, csshim's marker) are left alone.
    /// </summary>
    protected override void BeforeMetadata(int fd, string? path, TarEntry e)
    {
        int err = Fs.ListXattr(fd, path, out var names);
        if (err == Fs.EOPNOTSUPP) return;
        if (err != 0) throw OsError(e.Name, "listxattr", err);
        foreach (var name in names)
        {
            if (UpperXattrs.IsPrivate(name) || Sets(name) && e.Xattrs.Any(x => x.Key == name)) continue;
            if (Fs.RemoveXattr(fd, path, name) != 0 && Fs.Errno != Fs.ENODATA)
                throw OsError(e.Name, $"removexattr {TarEntry.Display(name)}", Fs.Errno);
        }
    }

    protected override void FinishTree(RestoreRules rules)
    {
        DropCache();
        foreach (var w in _whiteouts.DistinctBy(w => w.Rel))
            if (rules.KindOf(w.Rel) == NodeKind.Whiteout) Remove(w.Parent, w.Leaf, w.Entry.Name);
        foreach (var dir in rules.OpaqueDirectories()) EmptyOpaque(dir, rules);
        base.FinishTree(rules);
    }

    void Remove(string parent, string leaf, string entry)
    {
        int pfd = OpenDir(parent, entry);
        try { RemoveExisting(pfd, leaf, entry); }
        finally { Fs.Close(pfd); }
    }

    /// <summary>
    /// Nothing below an opaque directory comes from the tree: remove every node this archive did not make, in it and
    /// in the directories it made below it. The archive may list children before their opaque parent, so those stay.
    /// A directory left with nothing of the archive's is removed and made again, so that overlayfs records it as one
    /// opaque directory in its upper layer rather than as a whiteout per former child.
    /// </summary>
    void EmptyOpaque(string opaqueDir, RestoreRules rules)
    {
        var entry = "./" + opaqueDir + "/";
        var pending = new Queue<string>();
        pending.Enqueue(opaqueDir);
        while (pending.TryDequeue(out var rel))
        {
            bool keeps = false, removed = false;
            int fd = OpenDir(rel, entry);
            try
            {
                if (Fs.ReadDir(fd, out var children) is var err and not 0) throw OsError(entry, $"readdir {TarEntry.Display(rel)}", err);
                foreach (var (name, _) in children)
                {
                    var child = rel + "/" + name;
                    switch (rules.KindOf(child))
                    {
                        case NodeKind.Directory: keeps = true; pending.Enqueue(child); break;
                        case NodeKind.Symlink or NodeKind.Other: keeps = true; break;
                        default: RemoveExisting(fd, name, entry); removed = true; break;
                    }
                }
            }
            finally { Fs.Close(fd); }
            if (removed && !keeps) Recreate(rel, entry);
        }
    }

    void Recreate(string rel, string entry)
    {
        var (parent, leaf) = EntryPath.Split(rel);
        int pfd = OpenDir(parent, entry);
        try
        {
            Check(Fs.UnlinkAt(pfd, leaf, Fs.AT_REMOVEDIR), entry, "rmdir");
            Check(Fs.MkdirAt(pfd, leaf, 0x1C0 /* 0700 */), entry, "mkdir");
        }
        finally { Fs.Close(pfd); }
    }
}
