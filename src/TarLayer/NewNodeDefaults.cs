using Csshim.TarLayer.Posix;

namespace Csshim.TarLayer;

/// <summary>
/// The owner and mode the kernel gives a node a restore creates, when they are known without asking: the creating
/// (effective) user and group, and the mode passed to open less the umask. That holds only where no parent directory
/// can impose a group (setgid) or a mode (a default ACL replaces the umask), which the restorer decides (Extract into
/// a destination whose root has neither). Then chown and chmod calls that would change nothing are left out; they
/// stay wherever the outcome is not proven, and for modes with setuid, setgid or sticky bits.
/// </summary>
internal sealed class NewNodeDefaults
{
    public static readonly NewNodeDefaults Unknown = new(known: false);
    static readonly uint? s_umask = ReadUmask();

    readonly bool _known;

    NewNodeDefaults(bool known) => _known = known && s_umask.HasValue;

    /// <summary>Defaults for new nodes in the directory open at fd, if fd has no setgid bit and no default ACL.</summary>
    public static NewNodeDefaults Below(int dirFd)
    {
        const uint S_ISGID = 0x400;
        bool plain = Fs.LStatAt(dirFd, "", out var st) == 0 && (st.Mode & S_ISGID) == 0
            && Fs.GetXattr(dirFd, null, Acl.Default, out _) == Fs.ENODATA;
        return plain ? new NewNodeDefaults(known: true) : Unknown;
    }

    /// <summary>A new node already has this owner.</summary>
    public bool OwnedAs(uint uid, uint gid) => _known && uid == Fs.EffectiveUid && gid == Fs.EffectiveGid;

    /// <summary>Creating a regular file with exactly this mode gives it this mode (no special bits, nothing masked).</summary>
    public bool CreatesWithMode(uint mode) => _known && (mode & ~0x1FFu) == 0 && (mode & s_umask!.Value) == 0;

    /// <summary>The umask, read without changing it (umask(2) can only set it); null when /proc does not say.</summary>
    static uint? ReadUmask()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("Umask:", StringComparison.Ordinal)) return Convert.ToUInt32(line[6..].Trim(), 8);
        }
        catch (IOException) { }
        return null;
    }
}
