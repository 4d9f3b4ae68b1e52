using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// Walks a stack of overlay upper layers, top first, and writes the one change set that shows what overlayfs shows
/// with them stacked over an image (docs in README "Merged snapshots"), in runsc's layout: "./" first, parents before
/// children, siblings sorted, "dir/" names, hard links to the first path, whiteouts as their own char 0/0 entries.
/// One layer is today's upper directory snapshot. Layer 0 may be live (a container's upper); the lower layers must
/// not change.
/// A snapshot is complete or it fails with SnapshotFailedException naming the path: any error opening, reading or
/// listing a node fails it. Only a node of layer 0 that vanished since its directory was read is left out (a live
/// container deleted it), and a node whose type changed meanwhile is archived as what it now is.
/// The walk holds each layer's root and the directories being read (one per layer merged there), not one fd per
/// level: returning to a parent reopens it from the roots by its path (no symlink followed) and checks that it is
/// still the same directory, so how deep a tree can be is bounded by PATH_MAX, not by RLIMIT_NOFILE.
/// </summary>
internal sealed class Snapshotter(PaxTarWriter writer)
{
    const byte DT_DIR = 4, DT_REG = 8;
    // A live container could keep swapping a node; past this many type changes the snapshot gives up on it.
    const int TypeChangesTolerated = 4;
    // What overlayfs (csshim mounts it with trusted xattrs) takes as an opaque directory in any layer.
    const string OpaqueXattr = "trusted.overlay.opaque";
    static readonly byte[] OpaqueYes = "y"u8.ToArray();
    // (layer, dev, ino): nodes of different layers are different files, whatever their numbers.
    readonly Dictionary<(int, uint, uint, ulong), string> _firstPath = new();
    int[] _roots = [];
    // The directories of the frame being read, one per entry of its Layers.
    int[] _cur = [];

    /// <summary>
    /// A merged directory being walked: its archive name ("./a/b/"), the layers whose directories it merges (top
    /// first) and their identities, and the names its layers list (see Child), visited from Next on.
    /// </summary>
    sealed class Frame(string name, int[] layers, FileStat[] stats, List<Child> children, bool dropsWhiteouts)
    {
        public string Name { get; } = name;
        public int[] Layers { get; } = layers;
        public FileStat[] Stats { get; } = stats;
        public List<Child> Children { get; } = children;
        public int Next { get; set; }
        /// <summary>
        /// Archived opaque after merging several layers: its whiteouts hide nothing below, and once restored it is a
        /// plain upper directory, whose whiteouts overlayfs would list in readdir (it filters them only in merged
        /// directories), so they are left out.
        /// </summary>
        public bool DropsWhiteouts { get; } = dropsWhiteouts;
        /// <summary>The path below the layer roots: "a/b", "" for the root.</summary>
        public string Rel => Name.Length <= 2 ? "" : Name[2..^1];
    }

    /// <summary>
    /// A name listed by one of a merged directory's layers; Pos indexes the frame's Layers. Children are sorted by name,
    /// then by Pos: the first of a name is the topmost layer that has it, the others are what it shadows or merges.
    /// </summary>
    readonly record struct Child(string Name, byte DType, int Pos);

    public void Run(IReadOnlyList<string> layerDirs)
    {
        _roots = new int[layerDirs.Count];
        Array.Fill(_roots, -1);
        _cur = _roots;
        try
        {
            var stats = new FileStat[_roots.Length];
            for (int i = 0; i < _roots.Length; i++)
            {
                _roots[i] = Fs.OpenAt(-100, TarEntry.Raw(layerDirs[i]), Fs.O_RDONLY | Fs.O_DIRECTORY);
                if (_roots[i] < 0)
                    throw Failed("./", $"cannot open {(i == 0 ? "upper directory" : $"lower layer {i}")} '{layerDirs[i]}': {Fs.ErrText(Fs.Errno)}");
                if (Fs.LStatAt(_roots[i], "", out stats[i]) is var err and not 0) throw Failed("./", At("stat", i), err);
            }
            // overlayfs merges the roots of all its layers: an opaque marker on a layer's root means nothing to it.
            Walk(Enter("./", Enumerable.Range(0, _roots.Length).ToArray(), _roots, stats, Xattrs(_roots[0], null, "./")!, dropsWhiteouts: false));
        }
        finally
        {
            Use(_roots);
            foreach (int fd in _roots) Fs.Close(fd);
        }
    }

    void Walk(Frame top)
    {
        var stack = new Stack<Frame>();
        stack.Push(top);
        var current = top; // the frame whose directories _cur are
        while (stack.TryPeek(out var frame))
        {
            if (frame.Next == frame.Children.Count) { stack.Pop(); continue; }
            if (!ReferenceEquals(frame, current)) { Use(Reopen(frame)); current = frame; }
            int first = frame.Next;
            do frame.Next++;
            while (frame.Next < frame.Children.Count && frame.Children[frame.Next].Name == frame.Children[first].Name);
            if (Visit(frame, first, frame.Next) is { } child)
            {
                stack.Push(child);
                current = child;
            }
        }
    }

    /// <summary>Make fds the current directories, closing the previous ones (the roots stay open).</summary>
    void Use(int[] fds)
    {
        foreach (int fd in _cur)
            if (Array.IndexOf(fds, fd) < 0 && Array.IndexOf(_roots, fd) < 0) Fs.Close(fd);
        _cur = fds;
    }

    int[] Reopen(Frame frame)
    {
        if (frame.Rel.Length == 0) return _roots;
        var fds = new int[frame.Layers.Length];
        int n = 0;
        try
        {
            for (; n < fds.Length; n++) fds[n] = Reopen(frame, n);
        }
        catch
        {
            for (int i = 0; i < n; i++) Fs.Close(fds[i]);
            throw;
        }
        return fds;
    }

    int Reopen(Frame frame, int pos)
    {
        int layer = frame.Layers[pos];
        int fd = BeneathPath.OpenDir(_roots[layer], frame.Rel, sameMount: false, out int err);
        if (fd < 0 && err is not (Fs.ENOENT or Fs.ENOTDIR or Fs.ELOOP)) throw Failed(frame.Name, At("reopen", layer), err);
        if (fd >= 0 && Fs.LStatAt(fd, "", out var st) is var serr && (serr != 0 || !st.SameNode(frame.Stats[pos])))
        {
            Fs.Close(fd);
            if (serr != 0) throw Failed(frame.Name, At("stat", layer), serr);
            fd = -1;
        }
        if (fd < 0) throw Failed(frame.Name, At("the directory was moved or replaced while the snapshot walked it", layer));
        return fd;
    }

    /// <summary>
    /// Archive one name of the current directory, parent.Children[first..end) (its layers, top first), as its topmost
    /// layer has it; a directory becomes the new current one and is returned.
    /// </summary>
    Frame? Visit(Frame parent, int first, int end)
    {
        var (name, dtype, pos) = parent.Children[first];
        int dir = _cur[pos], layer = parent.Layers[pos];
        var path = parent.Name + name;
        uint type = dtype switch { DT_DIR => Fs.S_IFDIR, DT_REG => Fs.S_IFREG, _ => 0 };
        for (int attempt = 0; attempt < TypeChangesTolerated; attempt++)
        {
            if (type == Fs.S_IFDIR)
            {
                int fd = Fs.OpenAt(dir, name, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
                if (fd >= 0) return EnterChild(fd, parent, first, end);
                int err = Fs.Errno;
                if (err == Fs.ENOENT) { Vanished(path, layer); return null; }
                if (err is not (Fs.ENOTDIR or Fs.ELOOP)) throw Failed(path + "/", At("open", layer), err);
            }
            else if (type == Fs.S_IFREG)
            {
                // O_NONBLOCK|O_NOCTTY: if a live container swapped the file for a FIFO or a tty, open must not hang or adopt it.
                int fd = Fs.OpenAt(dir, name, Fs.O_RDONLY | Fs.O_NOFOLLOW | Fs.O_NONBLOCK | Fs.O_NOCTTY);
                if (fd < 0)
                {
                    int err = Fs.Errno;
                    if (err == Fs.ENOENT) { Vanished(path, layer); return null; }
                    if (err is not (Fs.ELOOP or Fs.ENXIO)) throw Failed(path, At("open", layer), err); // ENXIO: now a socket
                }
                else if (Fs.LStatAt(fd, "", out var st) is var serr and not 0) { Fs.Close(fd); throw Failed(path, At("stat", layer), serr); }
                else if (st.Type == Fs.S_IFDIR) return EnterChild(fd, parent, first, end);
                else if (st.Type == Fs.S_IFREG)
                {
                    try { WriteFile(fd, path, st, layer); }
                    finally { Fs.Close(fd); }
                    return null;
                }
                else Fs.Close(fd);
            }
            else
            {
                int err = Fs.LStatAt(dir, name, out var st);
                if (err == Fs.ENOENT) { Vanished(path, layer); return null; }
                if (err != 0) throw Failed(path, At("stat", layer), err);
                if (st.Type is Fs.S_IFDIR or Fs.S_IFREG) { type = st.Type; continue; }
                if (WriteNode(dir, name, path, st, layer, parent.DropsWhiteouts)) return null;
            }
            type = 0; // its type changed since readdir: look again
        }
        throw Failed(path, "its type kept changing while the snapshot read it");
    }

    /// <summary>
    /// The directory open at fd, parent.Children[first]'s, merged as overlayfs looks it up: while the directory so far
    /// is not opaque, the same name in the next layer that lists it joins if it is a directory too (and stops the merge
    /// if it is opaque); a non-directory or whiteout there stops it and hides what lies below. A merge that stopped
    /// above the bottom hides the image's directory too, so the archived directory is opaque.
    /// </summary>
    Frame EnterChild(int fd, Frame parent, int first, int end)
    {
        var (childName, _, top) = parent.Children[first];
        var name = parent.Name + childName + "/";
        int count = end - first;
        var fds = new int[count];
        var stats = new FileStat[count];
        var layers = new int[count];
        fds[0] = fd;
        layers[0] = parent.Layers[top];
        int n = 1;
        List<KeyValuePair<string, byte[]>> xattrs;
        bool dropsWhiteouts = false;
        try
        {
            if (Fs.LStatAt(fd, "", out stats[0]) is var err and not 0) throw Failed(name, At("stat", layers[0]), err);
            xattrs = Xattrs(fd, null, name)!;
            if (count > 1)
            {
                bool opaque = IsOpaque(xattrs), hides = opaque;
                for (int i = first + 1; !hides && i < end; i++)
                {
                    int pos = parent.Children[i].Pos, layer = parent.Layers[pos];
                    int lower = Fs.OpenAt(_cur[pos], childName, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
                    if (lower < 0)
                    {
                        err = Fs.Errno;
                        if (err is Fs.ENOTDIR or Fs.ELOOP) { hides = true; break; }
                        if (err == Fs.ENOENT) Vanished(name, layer); // throws: a lower layer listed it
                        throw Failed(name, At("open", layer), err);
                    }
                    fds[n] = lower;
                    layers[n++] = layer;
                    if (Fs.LStatAt(lower, "", out stats[n - 1]) is var serr and not 0) throw Failed(name, At("stat", layer), serr);
                    hides = IsOpaque(lower, name, layer);
                }
                if (hides && !opaque) xattrs = WithOpaque(xattrs);
                dropsWhiteouts = hides && n > 1;
            }
        }
        catch
        {
            for (int i = 0; i < n; i++) Fs.Close(fds[i]);
            throw;
        }
        if (n < count) { fds = fds[..n]; stats = stats[..n]; layers = layers[..n]; }
        Use(fds);
        return Enter(name, layers, fds, stats, xattrs, dropsWhiteouts);
    }

    /// <summary>Header of a merged directory (its topmost layer's attributes) and its children: the union of its layers', upper wins.</summary>
    Frame Enter(string name, int[] layers, int[] fds, FileStat[] stats, List<KeyValuePair<string, byte[]>> xattrs, bool dropsWhiteouts)
    {
        Emit(Entry(TarEntryType.Directory, name, stats[0], xattrs));
        var children = new List<Child>();
        for (int pos = 0; pos < fds.Length; pos++)
        {
            if (Fs.ReadDir(fds[pos], out var listed) is var err and not 0) throw Failed(name, At("readdir", layers[pos]), err);
            foreach (var (child, dtype) in listed) children.Add(new Child(child, dtype, pos));
        }
        children.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name) is var c and not 0 ? c : a.Pos - b.Pos);
        return new Frame(name, layers, stats, children, dropsWhiteouts);
    }

    static bool IsOpaque(List<KeyValuePair<string, byte[]>> xattrs) =>
        xattrs.Exists(x => x.Key == OpaqueXattr && x.Value.AsSpan().SequenceEqual(OpaqueYes));

    /// <summary>A lower layer's directory, open at fd, is opaque.</summary>
    static bool IsOpaque(int fd, string name, int layer)
    {
        int err = Fs.GetXattr(fd, null, OpaqueXattr, out var value);
        if (err is Fs.ENODATA or Fs.EOPNOTSUPP) return false;
        if (err != 0) throw Failed(name, At($"getxattr {OpaqueXattr}", layer), err);
        return value.AsSpan().SequenceEqual(OpaqueYes);
    }

    /// <summary>The xattrs (sorted by name) with the opaque marker set.</summary>
    static List<KeyValuePair<string, byte[]>> WithOpaque(List<KeyValuePair<string, byte[]>> xattrs)
    {
        var list = xattrs.FindAll(x => x.Key != OpaqueXattr);
        int at = list.FindIndex(x => string.CompareOrdinal(x.Key, OpaqueXattr) > 0);
        list.Insert(at < 0 ? list.Count : at, new(OpaqueXattr, OpaqueYes));
        return list;
    }

    /// <summary>
    /// A node its directory listed is gone. In the top layer a live container removed it: it is left out. A lower layer
    /// must not change while it is read, so there it fails the snapshot.
    /// </summary>
    static void Vanished(string path, int layer)
    {
        if (layer != 0) throw Failed(path, $"it vanished from lower layer {layer}, which must not change while it is snapshotted");
    }

    /// <summary>What failed, and in which layer when it is not the top one.</summary>
    static string At(string op, int layer) => layer == 0 ? op : $"{op} (lower layer {layer})";

    void WriteFile(int fd, string path, FileStat st, int layer)
    {
        if (TryHardLink(path, st, layer)) return;
        var e = Entry(TarEntryType.File, path, st, Xattrs(fd, null, path)!);
        e.Size = st.Size;
        Emit(e);
        // The header's size is binding: a file that grew is cut there; one that shrank cannot fill it truthfully.
        writer.WriteFileData(fd, st.Size, (err, copied) =>
        {
            // The kernel copies into the archive file too: a full output is the archive's failure, not the node's.
            if (err is Fs.ENOSPC or Fs.EDQUOT or Fs.EFBIG) throw new IOException($"cannot write the archive: {Fs.ErrText(err)}");
            if (err != 0) throw Failed(path, At("read", layer), err);
            if (copied < st.Size) throw Failed(path, $"the file shrank while it was read ({copied} of the {st.Size} bytes its header declares)");
        });
    }

    /// <summary>A symlink, FIFO or device (sockets are skipped, as tar(1) and runsc do). False when it is no longer a symlink.</summary>
    bool WriteNode(int dir, string name, string path, FileStat st, int layer, bool dropWhiteout)
    {
        var link = "";
        if (st.Type == Fs.S_IFLNK)
        {
            var target = Fs.ReadLinkAt(dir, name);
            if (target == null)
            {
                int err = Fs.Errno;
                if (err == Fs.EINVAL) return false;
                if (err == Fs.ENOENT) { Vanished(path, layer); return true; }
                throw Failed(path, At("readlink", layer), err);
            }
            link = target;
        }
        TarEntryType? type = st.Type switch
        {
            Fs.S_IFLNK => TarEntryType.Symlink,
            Fs.S_IFCHR => TarEntryType.CharDevice,
            Fs.S_IFBLK => TarEntryType.BlockDevice,
            Fs.S_IFIFO => TarEntryType.Fifo,
            _ => null,
        };
        if (type == null) return true;
        // overlayfs links every whiteout to one shared inode: never a hard link.
        bool whiteout = type == TarEntryType.CharDevice && st.RdevMajor == 0 && st.RdevMinor == 0;
        if (whiteout && dropWhiteout) return true;
        if (!whiteout && type != TarEntryType.Symlink && TryHardLink(path, st, layer)) return true;
        if (Xattrs(-1, $"/proc/self/fd/{dir}/{name}", path) is not { } xattrs) { Vanished(path, layer); return true; }
        var e = Entry(type.Value, path, st, xattrs);
        e.LinkName = link;
        Emit(e);
        return true;
    }

    bool TryHardLink(string path, FileStat st, int layer)
    {
        if (st.NLink < 2) return false;
        var key = (layer, st.DevMajor, st.DevMinor, st.Ino);
        if (_firstPath.TryGetValue(key, out var first))
        {
            Emit(new TarEntry
            {
                Type = TarEntryType.HardLink, Name = path, LinkName = first, Mode = st.Perm,
                Uid = st.Uid, Gid = st.Gid, MtimeSec = st.MtimeSec, MtimeNsec = st.MtimeNsec,
            });
            return true;
        }
        _firstPath[key] = path;
        return false;
    }

    /// <summary>Names of PATH_MAX and beyond cannot be restored (kernel path calls, runsc's reader): refuse them here.</summary>
    void Emit(TarEntry e)
    {
        if (e.Name.Length >= EntryPath.PathMax)
            throw Failed(e.Name, $"the path exceeds PATH_MAX ({EntryPath.PathMax} bytes), which no restore can create");
        writer.WriteHeader(e);
    }

    static TarEntry Entry(TarEntryType type, string name, FileStat st, List<KeyValuePair<string, byte[]>> xattrs)
    {
        var e = new TarEntry
        {
            Type = type, Name = name, Mode = st.Perm, Uid = st.Uid, Gid = st.Gid,
            MtimeSec = st.MtimeSec, MtimeNsec = st.MtimeNsec,
        };
        if (type is TarEntryType.CharDevice or TarEntryType.BlockDevice) { e.DevMajor = st.RdevMajor; e.DevMinor = st.RdevMinor; }
        e.Xattrs.AddRange(xattrs);
        return e;
    }

    /// <summary>
    /// The xattrs of fd (or of path, not following a final symlink), raw, except ACLs (runsc's unpadded base64), without
    /// private ones (UpperXattrs). Names with '=' and empty values cannot be PAX records (an empty PAX value means
    /// "unset"), so they are skipped as runsc does. Null when the node at path vanished.
    /// </summary>
    static List<KeyValuePair<string, byte[]>>? Xattrs(int fd, string? path, string entryName)
    {
        int err = Fs.ListXattr(fd, path, out var names);
        if (err == Fs.ENOENT && path != null) return null;
        if (err == Fs.EOPNOTSUPP) return [];
        if (err != 0) throw Failed(entryName, "listxattr", err);
        names.Sort(string.CompareOrdinal);
        var list = new List<KeyValuePair<string, byte[]>>();
        foreach (var name in names)
        {
            if (UpperXattrs.Unarchivable(name) is { } why) throw Failed(entryName, why);
            if (name.Contains('=') || UpperXattrs.IsPrivate(name)) continue;
            err = Fs.GetXattr(fd, path, name, out var value);
            if (err == Fs.ENODATA) continue; // removed since listxattr
            if (err == Fs.ENOENT && path != null) return null;
            if (err != 0) throw Failed(entryName, $"getxattr {TarEntry.Display(name)}", err);
            if (value.Length == 0) continue;
            list.Add(new(name, Acl.IsAclXattr(name) ? Acl.EncodeBase64(value) : value));
        }
        return list;
    }

    static SnapshotFailedException Failed(string name, string op, int errno) => Failed(name, $"{op}: {Fs.ErrText(errno)}");

    static SnapshotFailedException Failed(string name, string reason) => new(TarEntry.Display(name), reason);
}
