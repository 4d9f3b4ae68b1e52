using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// Walks an overlay upper directory (possibly live) and writes runsc's layout: "./" first, parents before children,
/// siblings sorted, "dir/" names, hard links to the first path, whiteouts as their own char 0/0 entries.
/// A snapshot is complete or it fails with SnapshotFailedException naming the path: any error opening, reading or
/// listing a node fails it. Only a node that vanished since its directory was read is left out (a live container
/// deleted it), and a node whose type changed meanwhile is archived as what it now is.
/// The walk holds the upper root and the directory being read, not one fd per level: returning to a parent
/// reopens it from the root by its path (no symlink followed) and checks that it is still the same directory, so
/// how deep a tree can be is bounded by PATH_MAX, not by RLIMIT_NOFILE.
/// </summary>
internal sealed class Snapshotter(PaxTarWriter writer)
{
    const byte DT_DIR = 4, DT_REG = 8;
    // A live container could keep swapping a node; past this many type changes the snapshot gives up on it.
    const int TypeChangesTolerated = 4;
    readonly Dictionary<(uint, uint, ulong), string> _firstPath = new();
    int _root = -1, _cur = -1;

    /// <summary>A directory being walked: its archive name ("./a/b/"), its identity, the children still to visit.</summary>
    sealed class Frame(string name, FileStat stat, List<(string Name, byte DType)> children)
    {
        public string Name { get; } = name;
        public FileStat Stat { get; } = stat;
        public List<(string Name, byte DType)> Children { get; } = children;
        public int Next { get; set; }
        /// <summary>The path below the upper root: "a/b", "" for the root.</summary>
        public string Rel => Name.Length <= 2 ? "" : Name[2..^1];
    }

    public void Run(string upperDir)
    {
        _root = Fs.OpenAt(-100, TarEntry.Raw(upperDir), Fs.O_RDONLY | Fs.O_DIRECTORY);
        if (_root < 0) throw Failed("./", $"cannot open upper directory '{upperDir}': {Fs.ErrText(Fs.Errno)}");
        _cur = _root;
        try { Walk(Enter(_root, "./")); }
        finally
        {
            Use(_root);
            Fs.Close(_root);
        }
    }

    void Walk(Frame top)
    {
        var stack = new Stack<Frame>();
        stack.Push(top);
        var current = top; // the frame whose directory _cur is
        while (stack.TryPeek(out var frame))
        {
            if (frame.Next == frame.Children.Count) { stack.Pop(); continue; }
            if (!ReferenceEquals(frame, current)) { Use(Reopen(frame)); current = frame; }
            var (name, dtype) = frame.Children[frame.Next++];
            if (Visit(name, frame.Name + name, dtype) is { } child)
            {
                stack.Push(child);
                current = child;
            }
        }
    }

    /// <summary>Make fd the current directory, closing the previous one (the root stays open).</summary>
    void Use(int fd)
    {
        if (_cur != _root && _cur != fd) Fs.Close(_cur);
        _cur = fd;
    }

    int Reopen(Frame frame)
    {
        if (frame.Rel.Length == 0) return _root;
        int fd = BeneathPath.OpenDir(_root, frame.Rel, sameMount: false, out int err);
        if (fd < 0 && err is not (Fs.ENOENT or Fs.ENOTDIR or Fs.ELOOP)) throw Failed(frame.Name, "reopen", err);
        if (fd >= 0 && Fs.LStatAt(fd, "", out var st) is var serr && (serr != 0 || !st.SameNode(frame.Stat)))
        {
            Fs.Close(fd);
            if (serr != 0) throw Failed(frame.Name, "stat", serr);
            fd = -1;
        }
        if (fd < 0) throw Failed(frame.Name, "the directory was moved or replaced while the snapshot walked it");
        return fd;
    }

    /// <summary>Archive one child of the current directory; a directory becomes the new current one and is returned.</summary>
    Frame? Visit(string name, string path, byte dtype)
    {
        uint type = dtype switch { DT_DIR => Fs.S_IFDIR, DT_REG => Fs.S_IFREG, _ => 0 };
        for (int attempt = 0; attempt < TypeChangesTolerated; attempt++)
        {
            if (type == Fs.S_IFDIR)
            {
                int fd = Fs.OpenAt(_cur, name, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
                if (fd >= 0) return EnterChild(fd, path + "/");
                int err = Fs.Errno;
                if (err == Fs.ENOENT) return null;
                if (err is not (Fs.ENOTDIR or Fs.ELOOP)) throw Failed(path + "/", "open", err);
            }
            else if (type == Fs.S_IFREG)
            {
                // O_NONBLOCK|O_NOCTTY: if a live container swapped the file for a FIFO or a tty, open must not hang or adopt it.
                int fd = Fs.OpenAt(_cur, name, Fs.O_RDONLY | Fs.O_NOFOLLOW | Fs.O_NONBLOCK | Fs.O_NOCTTY);
                if (fd < 0)
                {
                    int err = Fs.Errno;
                    if (err == Fs.ENOENT) return null;
                    if (err is not (Fs.ELOOP or Fs.ENXIO)) throw Failed(path, "open", err); // ENXIO: now a socket
                }
                else if (Fs.LStatAt(fd, "", out var st) is var serr and not 0) { Fs.Close(fd); throw Failed(path, "stat", serr); }
                else if (st.Type == Fs.S_IFDIR) return EnterChild(fd, path + "/");
                else if (st.Type == Fs.S_IFREG)
                {
                    try { WriteFile(fd, path, st); }
                    finally { Fs.Close(fd); }
                    return null;
                }
                else Fs.Close(fd);
            }
            else
            {
                int err = Fs.LStatAt(_cur, name, out var st);
                if (err == Fs.ENOENT) return null;
                if (err != 0) throw Failed(path, "stat", err);
                if (st.Type is Fs.S_IFDIR or Fs.S_IFREG) { type = st.Type; continue; }
                if (WriteNode(name, path, st)) return null;
            }
            type = 0; // its type changed since readdir: look again
        }
        throw Failed(path, "its type kept changing while the snapshot read it");
    }

    Frame EnterChild(int fd, string name)
    {
        Use(fd);
        return Enter(fd, name);
    }

    /// <summary>Header and children of the directory open at fd.</summary>
    Frame Enter(int fd, string name)
    {
        if (Fs.LStatAt(fd, "", out var st) is var err and not 0) throw Failed(name, "stat", err);
        Emit(Entry(TarEntryType.Directory, name, st, Xattrs(fd, null, name)!));
        if ((err = Fs.ReadDir(fd, out var children)) != 0) throw Failed(name, "readdir", err);
        children.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return new Frame(name, st, children);
    }

    void WriteFile(int fd, string path, FileStat st)
    {
        if (TryHardLink(path, st)) return;
        var e = Entry(TarEntryType.File, path, st, Xattrs(fd, null, path)!);
        e.Size = st.Size;
        Emit(e);
        // The header's size is binding: a file that grew is cut there; one that shrank cannot fill it truthfully.
        writer.WriteFileData(fd, st.Size, (err, copied) =>
        {
            // The kernel copies into the archive file too: a full output is the archive's failure, not the node's.
            if (err is Fs.ENOSPC or Fs.EDQUOT or Fs.EFBIG) throw new IOException($"cannot write the archive: {Fs.ErrText(err)}");
            if (err != 0) throw Failed(path, "read", err);
            if (copied < st.Size) throw Failed(path, $"the file shrank while it was read ({copied} of the {st.Size} bytes its header declares)");
        });
    }

    /// <summary>A symlink, FIFO or device (sockets are skipped, as tar(1) and runsc do). False when it is no longer a symlink.</summary>
    bool WriteNode(string name, string path, FileStat st)
    {
        var link = "";
        if (st.Type == Fs.S_IFLNK)
        {
            var target = Fs.ReadLinkAt(_cur, name);
            if (target == null)
            {
                int err = Fs.Errno;
                if (err == Fs.EINVAL) return false;
                if (err == Fs.ENOENT) return true;
                throw Failed(path, "readlink", err);
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
        if (!whiteout && type != TarEntryType.Symlink && TryHardLink(path, st)) return true;
        if (Xattrs(-1, $"/proc/self/fd/{_cur}/{name}", path) is not { } xattrs) return true; // vanished
        var e = Entry(type.Value, path, st, xattrs);
        e.LinkName = link;
        Emit(e);
        return true;
    }

    bool TryHardLink(string path, FileStat st)
    {
        if (st.NLink < 2) return false;
        var key = (st.DevMajor, st.DevMinor, st.Ino);
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
