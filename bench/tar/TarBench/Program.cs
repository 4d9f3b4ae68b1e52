using System.Diagnostics;
using Csshim.TarLayer;

// TarBench write <upperDir> <archive> [none|gzip|zstd] | TarBench extract <archive> <emptyDir> | TarBench apply <archive> <rootfsDir>
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: TarBench write UPPER ARCHIVE [none|gzip|zstd] | TarBench extract ARCHIVE DEST | TarBench apply ARCHIVE ROOTFS");
    return 2;
}
var sw = Stopwatch.StartNew();
long bytes;
switch (args[0])
{
    case "write":
        var compression = args.Length > 3 ? Enum.Parse<ArchiveCompression>(args[3], ignoreCase: true) : ArchiveCompression.None;
        using (var f = new FileStream(args[2], FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            UpperArchive.Write(args[1], f, compression);
            bytes = f.Length;
        }
        break;
    case "extract" or "apply":
        using (var f = new FileStream(args[1], FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0))
        {
            var r = args[0] == "extract"
                ? UpperArchive.Extract(f, args[2], new ExtractOptions())
                : UpperArchive.ApplyInPlace(f, args[2], new ExtractOptions());
            bytes = f.Length;
            Console.Error.WriteLine($"entries={r.Entries} data={r.Bytes}");
        }
        break;
    default:
        Console.Error.WriteLine($"unknown mode {args[0]}");
        return 2;
}
Console.WriteLine($"{args[0]} {bytes} bytes in {sw.Elapsed.TotalSeconds:F3} s");
return 0;
