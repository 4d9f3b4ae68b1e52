using Csshim.TarLayer;
using FsCheck;
using FsCheck.NUnit;
using PropertyAttribute = FsCheck.NUnit.PropertyAttribute;

namespace Csshim.Tests;

/// <summary>Properties (FsCheck) of path normalisation and of the header writer/reader pair.</summary>
public class PropertyTests
{
    static readonly string[] Parts = ["a", "b", ".", "..", "", "...", "x y", "é", ".hidden", "..x"];

    /// <summary>An archive name (a raw string, as the reader makes them) from generated components, optionally absolute.</summary>
    static string Name(byte[] picks, bool absolute) =>
        TarEntry.Raw((absolute ? "/" : "") + string.Join("/", picks.Select(p => Parts[p % Parts.Length])));

    static string? TryNormalize(string name)
    {
        try { return EntryPath.Normalize(name); }
        catch (ArchiveRejectedException ex) when (ex.Message.StartsWith($"entry '{TarEntry.Display(name)}': ")) { return null; }
    }

    [Property(MaxTest = 3000)]
    public bool Normalize_RefusesExactlyAbsoluteEmptyAndDotDotNames(byte[] picks, bool absolute)
    {
        var name = Name(picks, absolute);
        bool escapes = name.Length == 0 || name.StartsWith('/') || name.Split('/').Contains("..");
        return (TryNormalize(name) == null) == escapes;
    }

    [Property(MaxTest = 3000)]
    public bool Normalize_GivesOnlyPlainRelativeComponents(byte[] picks)
    {
        var rel = TryNormalize(Name(picks, false));
        return rel == null || rel.Length == 0 || rel.Split('/').All(c => c is not ("" or "." or ".."));
    }

    [Property(MaxTest = 3000)]
    public bool Normalize_IsIdempotent_AndIgnoresDotAndSlashDecoration(byte[] picks, byte at, bool dot)
    {
        var name = Name(picks, false);
        var rel = TryNormalize(name);
        if (rel == null) return true;
        // "./x/" (runsc's form of a directory) and a "." or "" component after the first name the same path.
        var parts = name.Split('/').ToList();
        parts.Insert(1 + at % parts.Count, dot ? "." : "");
        var decorated = string.Join("/", parts);
        return TryNormalize(decorated) == rel && TryNormalize("./" + rel + "/") == rel && (rel.Length == 0 || TryNormalize(rel) == rel);
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
