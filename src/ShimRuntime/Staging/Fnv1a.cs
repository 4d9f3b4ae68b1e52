namespace Csshim.ShimRuntime.Staging;

/// <summary>FNV-1a, 64 bits: a stable, cheap fingerprint for telling csshim's own files from others (not a defence
/// against a chosen collision, which would gain nothing: it only decides whether csshim puts a caller's own
/// original back).</summary>
internal static class Fnv1a
{
    public static ulong Hash64(ReadOnlySpan<byte> data)
    {
        ulong hash = 14695981039346656037;
        foreach (var b in data) hash = (hash ^ b) * 1099511628211;
        return hash;
    }
}
