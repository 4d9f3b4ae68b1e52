namespace Csshim.TarLayer;

/// <summary>
/// Archive names to destination-relative paths. This is only the first line of defence: a restore
/// also opens every directory with BeneathPath (no symlink followed, no mount crossed), so nothing
/// in the destination can redirect an entry.
/// </summary>
internal static class EntryPath
{
    public const int PathMax = 4096;
    public const int NameMax = 255;

    /// <summary>
    /// "./a//b/./c/" -> "a/b/c"; "./" or "." -> "" (the root). Throws ArchiveRejectedException
    /// (naming the entry) for absolute names, any ".." component, NUL, or names beyond PATH_MAX/NAME_MAX.
    /// </summary>
    public static string Normalize(string rawName, string what = "name", string? entryName = null)
    {
        var entry = entryName ?? rawName;
        if (rawName.Length == 0) throw Fail(entry, $"{what} is empty");
        if (rawName.Length >= PathMax) throw Fail(entry, $"{what} exceeds PATH_MAX ({rawName.Length} bytes)");
        if (rawName.Contains('\0')) throw Fail(entry, $"{what} contains NUL");
        if (rawName[0] == '/') throw Fail(entry, $"{what} is absolute");
        var parts = new List<string>();
        foreach (var part in rawName.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") throw Fail(entry, $"{what} escapes the destination");
            if (part.Length > NameMax) throw Fail(entry, $"{what} has a component beyond NAME_MAX ({part.Length} bytes)");
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    /// <summary>"a/b/c" -> ("a/b", "c"); "c" -> ("", "c").</summary>
    public static (string Parent, string Leaf) Split(string rel)
    {
        int i = rel.LastIndexOf('/');
        return i < 0 ? ("", rel) : (rel[..i], rel[(i + 1)..]);
    }

    static ArchiveRejectedException Fail(string entry, string reason) =>
        new($"entry '{TarEntry.Display(entry)}': {reason}");
}
