using System.Text.RegularExpressions;

namespace Csshim.ShimRuntime.Settings;

/// <summary>How much a container's upper may hold: bytes (the tmpfs `size=` and the byte budget of a restore) and
/// inodes (the tmpfs `nr_inodes=`). A cap that is off by accident is refused: tmpfs reads size 0 and nr_inodes 0
/// as "no limit", and more than 100% of RAM is no cap either.</summary>
internal sealed partial class UpperCaps
{
    /// <summary>ext4's default inode ratio: enough inodes for ordinary trees, while a flood of empty files or
    /// directories (each costing kernel memory that the byte cap does not see) stops at a bound the byte cap sets.</summary>
    public const long BytesPerInode = 16 * 1024;
    public const long MinInodes = 1024;

    [GeneratedRegex(@"^(?<n>-?[0-9]+)(?<unit>[kKmMgG%]?)$")]
    private static partial Regex SizePattern();

    private readonly long? inodes;
    private long? bytes;

    /// <summary>The size as given, for the tmpfs option (tmpfs itself resolves a percentage against RAM).</summary>
    public string Size { get; }

    private UpperCaps(string size, long? inodes)
    {
        Size = size;
        this.inodes = inodes;
    }

    public static UpperCaps Parse(Setting size, Setting? inodes)
    {
        var m = SizePattern().Match(size.Value);
        if (!m.Success)
            throw size.Refuse("give bytes with an optional k, m, g or % suffix (e.g. 2g, 50%)");
        if (!long.TryParse(m.Groups["n"].Value, out var n)) throw size.Refuse("too large");
        if (n < 0) throw size.Refuse("negative: give a size above 0");
        // The kernel parses the size with the unit applied and wraps on overflow: a huge size would read as 0, no limit.
        if (m.Groups["unit"].Value != "%" && n > MaxBytes >> UnitShift(m.Groups["unit"].Value)) throw size.Refuse($"too large: give at most {MaxBytes >> 50} PiB");
        if (n == 0) throw size.Refuse("0 would switch the cap off (tmpfs reads 0 as no limit): give a size above 0");
        if (m.Groups["unit"].Value == "%" && n > 100) throw size.Refuse("more than all of RAM: give at most 100%");
        long? inodeCount = null;
        if (inodes is not null)
        {
            if (!long.TryParse(inodes.Value, out var count) || count < 0) throw inodes.Refuse("give a whole number above 0");
            if (count == 0) throw inodes.Refuse("0 would switch the inode cap off (tmpfs reads 0 as no limit): give a number above 0");
            inodeCount = count;
        }
        return new UpperCaps(size.Value, inodeCount);
    }

    /// <summary>A size beyond any machine's RAM; checked before the unit is applied, so nothing overflows.</summary>
    private const long MaxBytes = 1L << 50;

    private static int UnitShift(string unit) => unit switch
    {
        "k" or "K" => 10,
        "m" or "M" => 20,
        "g" or "G" => 30,
        _ => 0,
    };

    public long Bytes => bytes ??= ToBytes(Size);

    public long Inodes => inodes ?? Math.Max(MinInodes, Bytes / BytesPerInode);

    private static long ToBytes(string size)
    {
        var m = SizePattern().Match(size);
        var n = long.Parse(m.Groups["n"].Value);
        var unit = m.Groups["unit"].Value;
        return unit == "%" ? MemTotalBytes() / 100 * n : n << UnitShift(unit);
    }

    /// <summary>What tmpfs takes a percentage of: the machine's RAM (MemTotal).</summary>
    private static long MemTotalBytes()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new ShimException("cannot read MemTotal from /proc/meminfo to size the upper layer");
    }
}

/// <summary>A setting's value and where it came from, so that a bad one is refused naming its source: a flag is a
/// usage error (exit 2), a config file value is csshim's failure to start (exit 1) naming the file.</summary>
internal sealed record Setting(string Value, string Source, bool FromFlag)
{
    public static Setting Default(string value) => new(value, "the default", false);

    /// <summary>The flag's value if given, else the config file's, else null.</summary>
    public static Setting? Of(string? flagValue, string flag, object? configValue, ShimConfig config, string configKey) =>
        flagValue is not null ? new Setting(flagValue, $"--{flag}", true)
        : configValue is not null ? new Setting(Convert.ToString(configValue, System.Globalization.CultureInfo.InvariantCulture)!, $"config {config.Path}: \"{configKey}\"", false)
        : null;

    public ShimException Refuse(string why)
    {
        var message = $"{Source} \"{Value}\": {why}";
        return FromFlag ? new ShimUsageException(message) : new ShimException(message);
    }
}
