namespace Csshim.TarLayer;

/// <summary>
/// Walks an overlay upper directory (possibly live) with directory fds and writes runsc's layout:
/// "./" first, parents before children, "dir/" names, hard links to the first path, whiteouts as
/// their own char 0/0 entries. Anything that vanishes mid-walk is skipped.
/// </summary>
internal sealed class Snapshotter
{
    readonly PaxTarWriter _writer;
    readonly Dictionary<(uint, uint, ulong), string> _firstPath = new();

    public Snapshotter(PaxTarWriter writer) => _writer = writer;

    public void Run(string upperDir)
    {
        int root = Native.OpenAt(-100, TarEntry.Raw(upperDir), Native.O_RDONLY | Native.O_DIRECTORY);
        if (root < 0) throw new IOException($"cannot open upper directory '{upperDir}': {Native.ErrText(Native.Errno)}");
        try
        {
            if (Native.LStatAt(root, "", out var st) != 0) throw new IOException($"cannot stat '{upperDir}': {Native.ErrText(Native.Errno)}");
            _writer.WriteHeader(Entry(TarEntryType.Directory, "./", st, Xattrs(root, null)));
            WalkChildren(root, "./");
        }
        finally { Native.Close(root); }
    }

    void WalkChildren(int dirfd, string prefix)
    {
        var children = Native.ReadDir(Native.Dup(dirfd));
        children.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        foreach (var (name, dtype) in children)
        {
            var path = prefix + name;
            // d_type saves an lstat for the common cases; both helpers re-check the type on the open fd.
            if (dtype == DT_REG) { WriteFile(dirfd, name, path); continue; }
            if (dtype == DT_DIR) { WriteDirectory(dirfd, name, path); continue; }
            if (Native.LStatAt(dirfd, name, out var st) != 0) continue; // vanished
            switch (st.Type)
            {
                case Native.S_IFDIR: WriteDirectory(dirfd, name, path); break;
                case Native.S_IFREG: WriteFile(dirfd, name, path); break;
                case Native.S_IFLNK:
                    var target = Native.ReadLinkAt(dirfd, name);
                    if (target == null) continue;
                    WriteNode(TarEntryType.Symlink, dirfd, name, path, st, target);
                    break;
                case Native.S_IFCHR:
                    // overlayfs links every whiteout to one shared inode: never a hard link.
                    if (st.RdevMajor == 0 && st.RdevMinor == 0) _writer.WriteHeader(Entry(TarEntryType.CharDevice, path, st, Xattrs(-1, $"/proc/self/fd/{dirfd}/{name}")));
                    else WriteNode(TarEntryType.CharDevice, dirfd, name, path, st, "");
                    break;
                case Native.S_IFBLK: WriteNode(TarEntryType.BlockDevice, dirfd, name, path, st, ""); break;
                case Native.S_IFIFO: WriteNode(TarEntryType.Fifo, dirfd, name, path, st, ""); break;
                default: break; // sockets are skipped, as tar(1) and runsc do
            }
        }
    }

    void WriteDirectory(int dirfd, string name, string path)
    {
        int fd = Native.OpenAt(dirfd, name, Native.O_RDONLY | Native.O_DIRECTORY | Native.O_NOFOLLOW);
        if (fd < 0) return; // vanished or replaced by a non-directory
        try
        {
            if (Native.LStatAt(fd, "", out var st) != 0) return;
            _writer.WriteHeader(Entry(TarEntryType.Directory, path + "/", st, Xattrs(fd, null)));
            WalkChildren(fd, path + "/");
        }
        finally { Native.Close(fd); }
    }

    bool TryHardLink(string path, FileStat st)
    {
        if (st.NLink < 2) return false;
        var key = (st.DevMajor, st.DevMinor, st.Ino);
        if (_firstPath.TryGetValue(key, out var first))
        {
            _writer.WriteHeader(new TarEntry
            {
                Type = TarEntryType.HardLink, Name = path, LinkName = first, Mode = st.Perm,
                Uid = st.Uid, Gid = st.Gid, MtimeSec = st.MtimeSec, MtimeNsec = st.MtimeNsec,
            });
            return true;
        }
        _firstPath[key] = path;
        return false;
    }

    const byte DT_DIR = 4, DT_REG = 8;
    const int O_NONBLOCK = 0x800;

    void WriteFile(int dirfd, string name, string path)
    {
        // O_NONBLOCK: if a live container swapped the file for a FIFO, open must not hang.
        int fd = Native.OpenAt(dirfd, name, Native.O_RDONLY | Native.O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) return; // vanished (or swapped for a symlink) since readdir
        try
        {
            if (Native.LStatAt(fd, "", out var st) != 0 || st.Type != Native.S_IFREG) return;
            if (TryHardLink(path, st)) return;
            var e = Entry(TarEntryType.File, path, st, Xattrs(fd, null));
            e.Size = st.Size;
            _writer.WriteHeader(e);
            // The header's size is binding even if a live container grows or truncates the file now.
            _writer.WriteFileData(fd, st.Size);
        }
        finally { Native.Close(fd); }
    }

    void WriteNode(TarEntryType type, int dirfd, string name, string path, FileStat st, string link)
    {
        if (type != TarEntryType.Symlink && TryHardLink(path, st)) return;
        var e = Entry(type, path, st, Xattrs(-1, $"/proc/self/fd/{dirfd}/{name}"));
        e.LinkName = link;
        _writer.WriteHeader(e);
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
    /// All xattrs but overlayfs's private ones, raw, except ACLs (runsc's unpadded base64). Names with '=' and empty values cannot be
    /// PAX records (an empty PAX value means "unset"), so they are skipped as runsc does.
    /// </summary>
    static List<KeyValuePair<string, byte[]>> Xattrs(int fd, string? path)
    {
        var list = new List<KeyValuePair<string, byte[]>>();
        var names = Native.ListXattr(fd, path);
        names.Sort(string.CompareOrdinal);
        foreach (var name in names)
        {
            if (name.Contains('=') || OverlayXattrs.IsPrivate(name)) continue;
            var value = Native.GetXattr(fd, path, name);
            if (value == null || value.Length == 0) continue;
            list.Add(new(name, Acl.IsAclXattr(name) ? Acl.EncodeBase64(value) : value));
        }
        return list;
    }
}
