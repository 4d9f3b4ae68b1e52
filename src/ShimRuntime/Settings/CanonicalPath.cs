using Csshim.TarLayer.Posix;

namespace Csshim.ShimRuntime.Settings;

/// <summary>One spelling per place: absolute, no trailing slash, every symlink of the part that exists resolved
/// (`/var/run/runc/` and `/run/runc` are the same directory). Used for the keys and paths csshim compares and for the
/// mount points it looks for in /proc/self/mountinfo, which always shows resolved paths.</summary>
internal static class CanonicalPath
{
    public static string Of(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var missing = new Stack<string>();
        var existing = full;
        string? real;
        while ((real = Linux.RealPath(existing)) is null && existing != "/")
        {
            missing.Push(Path.GetFileName(existing));
            existing = Path.GetDirectoryName(existing)!;
        }
        var result = real ?? existing;
        foreach (var part in missing) result = Path.Combine(result, part);
        return result;
    }
}
