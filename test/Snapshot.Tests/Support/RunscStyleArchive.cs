using System.Formats.Tar;
using System.Text;

namespace Csshim.Snapshot.Tests.Support;

/// <summary>
/// Builds an archive the way docs/FORMAT.md says runsc writes one (Go's archive/tar): USTAR headers, a PAX header only
/// where a record needs it (xattrs), names rooted at `./` with directories ending in `/`, the root `./` first,
/// whole-second mtimes, whiteouts as char 0/0 mode 0, opaque dirs as SCHILY.xattr.trusted.overlay.opaque=y.
/// Written with System.Formats.Tar so the fixture does not come from csshim's own writer.
/// </summary>
public sealed class RunscStyleArchive
{
    private const UnixFileMode DirMode = (UnixFileMode)0b111_101_101;  // 0755
    private const UnixFileMode FileMode = (UnixFileMode)0b110_100_100; // 0644
    private static readonly DateTimeOffset Mtime = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
    private readonly List<TarEntry> entries = new();

    public RunscStyleArchive() => Dir("./");

    public RunscStyleArchive Dir(string name, params (string Key, string Value)[] pax)
    {
        TarEntry e = pax.Length == 0
            ? new UstarTarEntry(TarEntryType.Directory, name)
            : new PaxTarEntry(TarEntryType.Directory, name, pax.ToDictionary(p => p.Key, p => p.Value));
        return Add(e, DirMode);
    }

    public RunscStyleArchive OpaqueDir(string name) => Dir(name, ("SCHILY.xattr.trusted.overlay.opaque", "y"));

    public RunscStyleArchive File(string name, string content)
    {
        var e = new UstarTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
        return Add(e, FileMode);
    }

    public RunscStyleArchive Fifo(string name) => Add(new UstarTarEntry(TarEntryType.Fifo, name), FileMode);

    public RunscStyleArchive Whiteout(string name)
    {
        var e = new UstarTarEntry(TarEntryType.CharacterDevice, name) { DeviceMajor = 0, DeviceMinor = 0 };
        return Add(e, 0);
    }

    private RunscStyleArchive Add(TarEntry e, UnixFileMode mode)
    {
        e.Mode = mode;
        e.Uid = 0;
        e.Gid = 0;
        e.ModificationTime = Mtime;
        entries.Add(e);
        return this;
    }

    /// <summary>Writes the archive (mode 0644, root's, as a snapshot would be) and returns its path.</summary>
    public string WriteTo(string path)
    {
        using (var file = System.IO.File.Create(path))
        using (var writer = new TarWriter(file, TarEntryFormat.Ustar, leaveOpen: false))
            foreach (var e in entries) writer.WriteEntry(e);
        System.IO.File.SetUnixFileMode(path, FileMode);
        return path;
    }
}
