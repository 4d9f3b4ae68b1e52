using Csshim.TarLayer;
using FsCheck;
using FsCheck.NUnit;
using PropertyAttribute = FsCheck.NUnit.PropertyAttribute;

namespace Csshim.Tests;

/// <summary>Properties (FsCheck) of path normalisation and of the header writer/reader pair.</summary>
public class PropertyTests
{
    static readonly string[] Parts = ["a", "b", ".", "..", "", "...", "x y", "é", ".hidden"];

    [Property(MaxTest = 3000)]
    public bool Normalize_EitherRefusesOrStaysInside(byte[] picks, bool absolute)
    {
        if (picks.Length == 0) return true;
        var parts = picks.Select(p => Parts[p % Parts.Length]).ToArray();
        var name = (absolute ? "/" : "") + string.Join("/", parts);
        bool mustRefuse = name.StartsWith('/') || parts.Contains("..") || name.Length == 0;
        try
        {
            var rel = EntryPath.Normalize(name);
            var expected = string.Join("/", parts.Where(p => p is not ("" or ".")));
            return !mustRefuse && rel == expected;
        }
        catch (ArchiveRejectedException ex)
        {
            return mustRefuse && ex.Message.StartsWith("entry '");
        }
    }

    [Property(MaxTest = 500)]
    public bool Header_WriteThenRead_IsIdentity(NonEmptyString nameSeed, uint uid, uint gid, int mtime, uint nsecSeed, ushort mode, byte[] xattr, long sizeSeed)
    {
        // Names: any bytes but NUL and '/', up to ~300 chars spread over path components.
        var raw = new string(nameSeed.Get.Select(c => (char)((c % 254) + 1)).Where(c => c != '/').ToArray());
        if (raw.Length == 0 || raw is "." or "..") raw = "n";
        var name = "./" + string.Join("/", Enumerable.Range(0, 1 + raw.Length % 3).Select(_ => raw));
        var e = new Csshim.TarLayer.TarEntry
        {
            Type = TarEntryType.File, Name = name, Uid = uid, Gid = gid, Mode = (uint)(mode & 0xFFF),
            MtimeSec = mtime, MtimeNsec = nsecSeed % 1_000_000_000, Size = Math.Abs(sizeSeed % (20L << 30)),
        };
        if (xattr.Length > 0) e.Xattrs.Add(new("user.x", xattr));
        var ms = new MemoryStream();
        using (var w = new PaxTarWriter(ms)) { w.WriteHeader(e); w.Finish(); }
        using var r = new PaxTarReader(new MemoryStream(ms.ToArray()), long.MaxValue);
        var got = r.Next()!;
        return got.Name == e.Name && got.Uid == uid && got.Gid == gid && got.Mode == e.Mode && got.MtimeSec == e.MtimeSec
            && got.MtimeNsec == e.MtimeNsec && got.Size == e.Size
            && (xattr.Length == 0 ? got.Xattrs.Count == 0 : got.Xattrs.Single().Value.SequenceEqual(xattr));
    }
}
