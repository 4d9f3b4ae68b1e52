using System.Text;

namespace Csshim.TarLayer;

/// <summary>
/// POSIX ACL xattrs: runsc stores them as the kernel bytes in unpadded base64 (Go RawStdEncoding) and
/// requires that form on read; GNU tar stores the raw bytes. Raw values start with version word 2.
/// </summary>
internal static class Acl
{
    public const string Access = "system.posix_acl_access";
    public const string Default = "system.posix_acl_default";

    public static bool IsAclXattr(string name) => name is Access or Default;

    public static bool IsRaw(ReadOnlySpan<byte> value) =>
        value.Length >= 4 && value[0] == 2 && value[1] == 0 && value[2] == 0 && value[3] == 0;

    public static byte[] EncodeBase64(ReadOnlySpan<byte> raw) =>
        Encoding.ASCII.GetBytes(Convert.ToBase64String(raw).TrimEnd('='));

    /// <summary>Unpadded (or padded) base64 to bytes; null if it is not base64.</summary>
    public static byte[]? DecodeBase64(ReadOnlySpan<byte> text)
    {
        var s = Encoding.ASCII.GetString(text).TrimEnd('=');
        if (s.Length % 4 == 1) return null;
        s = s.PadRight(s.Length + (4 - s.Length % 4) % 4, '=');
        try { return Convert.FromBase64String(s); }
        catch (FormatException) { return null; }
    }
}
