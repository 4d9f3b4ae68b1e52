using System.Text;

namespace Csshim.ShimRuntime.Cli;

/// <summary>
/// argv exactly as the caller passed it. .NET decodes argv as UTF-8 and replaces invalid bytes with U+FFFD, so an
/// argument that is not valid UTF-8 would reach the runtime changed. csshim reads /proc/self/cmdline instead and
/// decodes it losslessly: valid UTF-8 as text, every other byte b as the lone surrogate U+DC00+b (the
/// "surrogateescape" convention), which <see cref="Encode"/> turns back into b when the argument is forwarded.
/// </summary>
internal static class RawArgv
{
    /// <summary>The arguments after argv[0]; <paramref name="fallback"/> (.NET's args) when /proc is unreadable.</summary>
    public static string[] Read(string[] fallback)
    {
        byte[] cmdline;
        try
        {
            cmdline = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (IOException)
        {
            return fallback;
        }
        var words = new List<string>();
        var start = 0;
        for (var i = 0; i < cmdline.Length; i++)
        {
            if (cmdline[i] != 0) continue;
            words.Add(Decode(cmdline.AsSpan(start, i - start)));
            start = i + 1;
        }
        // Same count as the runtime's own split, or something rewrote the command line: trust .NET's then.
        return words.Count == fallback.Length + 1 ? words.Skip(1).ToArray() : fallback;
    }

    public static string Decode(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(bytes, out var rune, out var consumed);
            if (status == System.Buffers.OperationStatus.Done)
                text.Append(rune.ToString());
            else
                for (var i = 0; i < consumed; i++) text.Append((char)(0xDC00 + bytes[i]));
            bytes = bytes[consumed..];
        }
        return text.ToString();
    }

    /// <summary>UTF-8, with escaped bytes (lone U+DC80..U+DCFF) written back as the bytes they stand for.</summary>
    public static byte[] Encode(string text)
    {
        var bytes = new List<byte>(text.Length + 8);
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is >= '\uDC80' and <= '\uDCFF' && (i == 0 || !char.IsHighSurrogate(text[i - 1])))
            {
                bytes.Add((byte)(c - 0xDC00));
                continue;
            }
            if (Rune.TryGetRuneAt(text, i, out var rune))
            {
                var n = rune.EncodeToUtf8(utf8);
                for (var k = 0; k < n; k++) bytes.Add(utf8[k]);
                i += rune.Utf16SequenceLength - 1;
            }
            else
            {
                bytes.AddRange("\uFFFD"u8.ToArray()); // an unpaired surrogate that no argv byte produced
            }
        }
        return bytes.ToArray();
    }
}
