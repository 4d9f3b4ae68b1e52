using System.Text;

namespace Csshim.TarLayer;

internal enum TarEntryType { File, HardLink, Symlink, CharDevice, BlockDevice, Directory, Fifo }

/// <summary>
/// One archive entry after PAX/GNU extensions are applied. Name and LinkName are raw strings
/// (one char per byte) so that any Linux name survives; Display() turns them into text for messages.
/// </summary>
internal sealed class TarEntry
{
    public TarEntryType Type { get; set; }
    public string Name { get; set; } = "";
    public string LinkName { get; set; } = "";
    public uint Mode { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public long MtimeSec { get; set; }
    public uint MtimeNsec { get; set; }
    public long Size { get; set; }
    public uint DevMajor { get; set; }
    public uint DevMinor { get; set; }
    /// <summary>Extended attributes with exact values, in archive order (xattr name is a raw string).</summary>
    public List<KeyValuePair<string, byte[]>> Xattrs { get; } = new();

    public bool IsWhiteout => Type == TarEntryType.CharDevice && DevMajor == 0 && DevMinor == 0;

    /// <summary>A raw string (bytes as chars) as readable text, e.g. for error messages.</summary>
    public static string Display(string raw) => Encoding.UTF8.GetString(Encoding.Latin1.GetBytes(raw));

    /// <summary>Text (e.g. a UTF-8 name from a test) as a raw string.</summary>
    public static string Raw(string text) => Encoding.Latin1.GetString(Encoding.UTF8.GetBytes(text));
}
