using System.Text;

namespace Csshim.ShimRuntime;

/// <summary>Replace a file whole: temp file beside it, fsync, rename. Readers see the old or the new file, never half.
/// <paramref name="durable"/> false leaves out the fsync, for a file that need not outlive a crash of the host (it
/// still never appears half-written).</summary>
internal static class AtomicFile
{
    public static void Write(string path, UnixFileMode mode, Action<Stream> write, bool durable = true)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.csshim-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (var stream = new FileStream(tmp, new FileStreamOptions
                   { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode }))
            {
                write(stream);
                stream.Flush(flushToDisk: durable);
            }
            File.SetUnixFileMode(tmp, mode); // the umask must not narrow the original mode
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(tmp);
            throw new IOException($"cannot write {path}: {e.Message}", e);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    public static void WriteText(string path, UnixFileMode mode, string text, bool durable = true) =>
        Write(path, mode, s => s.Write(new UTF8Encoding(false).GetBytes(text)), durable);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
