using System.IO.Compression;
using System.Text;

namespace Csshim.Reliability.Tests.Support;

/// <summary>
/// A gzip'd tar of a million empty files (1000 directories of 1000), the flood a tenant sends against the upper's
/// inode cap: each costs an inode and kernel memory while the byte cap sees nothing. About 512 MB of headers before
/// compression, so it is streamed header by header and cached in the build output (never committed), once per
/// version of this generator.
/// </summary>
public static class InodeFlood
{
    public const int Dirs = 1000, FilesPerDir = 1000;
    public const long Files = (long)Dirs * FilesPerDir;
    private const string Version = "v1";
    private static readonly object Gate = new();

    /// <summary>The archive (root-owned, 0644), generated on first use.</summary>
    public static string Archive()
    {
        var dir = Path.Combine(TestContext.CurrentContext.TestDirectory, "inode-flood", $"{Version}-{Dirs}x{FilesPerDir}");
        var path = Path.Combine(dir, "flood.tar.gz");
        lock (Gate)
        {
            if (File.Exists(path)) return path;
            var parent = Path.GetDirectoryName(dir)!;
            if (Directory.Exists(parent))
                foreach (var stale in Directory.GetDirectories(parent)) Directory.Delete(stale, recursive: true);
            Directory.CreateDirectory(dir);
            var temp = path + ".new";
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
                Write(gzip);
            File.SetUnixFileMode(temp, (UnixFileMode)0b110_100_100);
            File.Move(temp, path);
            return path;
        }
    }

    private static void Write(Stream output)
    {
        var header = new byte[512];
        for (int d = 0; d < Dirs; d++)
        {
            var dirName = $"./d{d:D3}/";
            Header(header, dirName, directory: true);
            output.Write(header);
            for (int f = 0; f < FilesPerDir; f++)
            {
                Header(header, $"{dirName}f{f:D3}", directory: false);
                output.Write(header);
            }
        }
        output.Write(new byte[1024]); // end of archive
    }

    /// <summary>A USTAR header of an empty, root-owned file (0644) or directory (0755).</summary>
    private static void Header(byte[] h, string name, bool directory)
    {
        Array.Clear(h);
        Put(h, 0, name);
        Put(h, 100, directory ? "0000755" : "0000644");
        Put(h, 108, "0000000");
        Put(h, 116, "0000000");
        Put(h, 124, "00000000000");
        Put(h, 136, "14527320000"); // 2023-11-14
        h[156] = (byte)(directory ? '5' : '0');
        Put(h, 257, "ustar");
        Put(h, 263, "00");
        Put(h, 265, "root");
        Put(h, 297, "root");
        Put(h, 329, "0000000");
        Put(h, 337, "0000000");
        for (int i = 148; i < 156; i++) h[i] = (byte)' ';
        int sum = 0;
        foreach (var b in h) sum += b;
        Put(h, 148, Convert.ToString(sum, 8).PadLeft(6, '0'));
        h[154] = 0;
        h[155] = (byte)' ';
    }

    private static void Put(byte[] h, int at, string text) => Encoding.ASCII.GetBytes(text, 0, text.Length, h, at);
}
