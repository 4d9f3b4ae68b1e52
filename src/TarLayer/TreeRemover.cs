using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>Why a removal stopped: the call, its errno and the node's path relative to where the removal started.</summary>
internal sealed record RemoveFailure(string Op, int Errno, string Path)
{
    public string Reason => Errno == Fs.EXDEV
        ? $"'{TarEntry.Display(Path)}' is a mount point (a restore never removes across mounts)"
        : $"{Op} '{TarEntry.Display(Path)}': {Fs.ErrText(Errno)}";
}

/// <summary>
/// Removes a node and, for a directory, everything below it: never following a symlink, never entering another
/// mount (a mount point below stops the removal), and holding no fd per directory level (each directory is reopened
/// from the top one by its path), so how deep a tree can be is bounded by PATH_MAX, not by RLIMIT_NOFILE.
/// </summary>
internal static class TreeRemover
{
    const byte DT_UNKNOWN = 0, DT_DIR = 4;

    /// <summary>Remove parentFd/leaf; nothing happens when it is absent.</summary>
    public static RemoveFailure? Remove(int parentFd, string leaf)
    {
        if (Fs.UnlinkAt(parentFd, leaf, 0) == 0) return null;
        int err = Fs.Errno;
        if (err == Fs.ENOENT) return null;
        if (err != Fs.EISDIR) return new("unlink", err, leaf);
        int top = Fs.OpenAt(parentFd, leaf, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
        if (top < 0) return Fs.Errno == Fs.ENOENT ? null : new("open", Fs.Errno, leaf);
        RemoveFailure? failure;
        try
        {
            failure = SameMount(parentFd, top, leaf) ?? EmptyTree(top, leaf);
        }
        finally { Fs.Close(top); }
        if (failure != null) return failure;
        if (Fs.UnlinkAt(parentFd, leaf, Fs.AT_REMOVEDIR) != 0 && Fs.Errno != Fs.ENOENT)
            return new("rmdir", Fs.Errno, leaf);
        return null;
    }

    static RemoveFailure? SameMount(int parentFd, int dirFd, string path)
    {
        if (BeneathPath.MountOf(parentFd, out var outer) is var e1 and not 0) return new("stat", e1, path);
        if (BeneathPath.MountOf(dirFd, out var inner) is var e2 and not 0) return new("stat", e2, path);
        return outer == inner ? null : new("open", Fs.EXDEV, path);
    }

    /// <summary>
    /// Post-order over paths below top: a directory is visited once to unlink its non-directories and queue its
    /// subdirectories, and once more, after them, to rmdir the (now empty) subdirectories.
    /// </summary>
    static RemoveFailure? EmptyTree(int top, string topPath)
    {
        var pending = new Stack<(string Rel, bool SubdirsEmptied)>();
        pending.Push(("", false));
        while (pending.TryPop(out var item))
        {
            var shown = item.Rel.Length == 0 ? topPath : topPath + "/" + item.Rel;
            int fd = BeneathPath.OpenDir(top, item.Rel, sameMount: true, out int err);
            if (fd < 0)
            {
                if (err == Fs.ENOENT) continue;
                return new("open", err, shown);
            }
            try
            {
                if (Fs.ReadDir(fd, out var children) is var rdErr and not 0) return new("readdir", rdErr, shown);
                var subdirs = new List<string>();
                foreach (var (name, dtype) in children)
                {
                    if (item.SubdirsEmptied)
                    {
                        if (dtype is DT_DIR or DT_UNKNOWN && Fs.UnlinkAt(fd, name, Fs.AT_REMOVEDIR) != 0
                            && Fs.Errno is not (Fs.ENOENT or Fs.ENOTDIR))
                            return new("rmdir", Fs.Errno, shown + "/" + name);
                        continue;
                    }
                    if (dtype != DT_DIR && Fs.UnlinkAt(fd, name, 0) == 0) continue;
                    int uerr = dtype == DT_DIR ? Fs.EISDIR : Fs.Errno;
                    if (uerr == Fs.ENOENT) continue;
                    if (uerr != Fs.EISDIR) return new("unlink", uerr, shown + "/" + name);
                    subdirs.Add(name);
                }
                if (item.SubdirsEmptied || subdirs.Count == 0) continue;
                pending.Push((item.Rel, true));
                foreach (var sub in subdirs) pending.Push((item.Rel.Length == 0 ? sub : item.Rel + "/" + sub, false));
            }
            finally { Fs.Close(fd); }
        }
        return null;
    }
}
