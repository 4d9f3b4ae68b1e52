using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// Opens a directory below a root directory fd by its relative path, never following a symlink and, when asked, never
/// crossing into another mount: openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS[|RESOLVE_NO_XDEV]),
/// or an openat(O_NOFOLLOW|O_DIRECTORY) walk per component where openat2 is missing or filtered. Errors are those of
/// openat2: ELOOP for a symlink on the way, ENOTDIR for another non-directory, EXDEV for a mount point.
/// </summary>
internal static class BeneathPath
{
    static bool s_noOpenat2;

    /// <summary>A new fd, or -1 with errno set in <paramref name="errno"/>. "" opens the root itself again.</summary>
    public static int OpenDir(int root, string rel, bool sameMount, out int errno)
    {
        errno = 0;
        if (rel.Length == 0) return Fs.Dup(root);
        if (!s_noOpenat2)
        {
            var resolve = Fs.RESOLVE_BENEATH | Fs.RESOLVE_NO_SYMLINKS | Fs.RESOLVE_NO_MAGICLINKS
                | (sameMount ? Fs.RESOLVE_NO_XDEV : 0);
            int fd = Fs.OpenAt2(root, rel, Fs.O_RDONLY | Fs.O_DIRECTORY, resolve);
            if (fd >= 0) return fd;
            errno = Fs.Errno;
            if (errno is not (Fs.ENOSYS or Fs.EPERM)) return -1; // seccomp filters may answer EPERM
            s_noOpenat2 = true;
        }
        ulong rootMount = 0;
        if (sameMount && (errno = MountOf(root, out rootMount)) != 0) return -1;
        int cur = Fs.Dup(root);
        foreach (var component in rel.Split('/'))
        {
            int next = Fs.OpenAt(cur, component, Fs.O_RDONLY | Fs.O_DIRECTORY | Fs.O_NOFOLLOW);
            errno = next < 0 ? Fs.Errno : 0;
            Fs.Close(cur);
            if (next < 0) return -1;
            if (sameMount && (errno = MountOf(next, out var mount)) == 0 && mount != rootMount) errno = Fs.EXDEV;
            if (errno != 0) { Fs.Close(next); return -1; }
            cur = next;
        }
        return cur;
    }

    public static int MountOf(int fd, out ulong mountId)
    {
        int err = Fs.LStatAt(fd, "", out var st);
        mountId = st.MountId;
        return err;
    }
}
