using Csshim.TarLayer;
using NUnit.Framework;

namespace Csshim.Tests;

/// <summary>
/// File data moved by the kernel (FileRangeCopier): archives in files are restored and written with copy_file_range,
/// splice (sendfile) or read/write, and every method gives the same bytes as the buffered path of a MemoryStream.
/// </summary>
[TestFixture]
public class DataPathTests : TmpfsFixture
{
    [TearDown]
    public void ResetSeam() => FileRangeCopier.FirstMethod = CopyMethod.CopyFileRange;

    /// <summary>
    /// Files larger than the reader's 1 MiB buffer, a run of 700,001-byte files whose data straddles the read-ahead
    /// buffer's end at changing offsets, small files between them, sparse files (data between holes, holes only).
    /// </summary>
    static void BuildDataTree(string dir) => Sh.Run($"""
        cd {Sh.Q(dir)}
        head -c 3145735 /dev/urandom > big
        mkdir straddle
        for i in $(seq 1 12); do head -c 700001 /dev/urandom > straddle/f$i; head -c $((i * 1000)) /dev/urandom > straddle/s$i; done
        truncate -s 5M sparse; printf 'data in the middle' | dd of=sparse bs=1 seek=2097152 conv=notrunc status=none
        truncate -s 2M holes
        head -c 65536 /dev/urandom > exactly-direct-min; : > empty
        setfattr -n user.k -v v big
        """);

    static string ArchiveFile(string dir, string src)
    {
        var path = Path.Combine(dir, "a.tar");
        using var f = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        UpperArchive.Write(src, f);
        return path;
    }

    static FileStream OpenArchive(string path) => new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);

    [TestCase("CopyFileRange")]
    [TestCase("Splice")]
    [TestCase("ReadWrite")]
    public void EachMethod_GivesTheBufferedPathsBytes(string methodName)
    {
        var method = Enum.Parse<CopyMethod>(methodName);
        var src = NewDir("src");
        BuildDataTree(src);
        var buffered = new MemoryStream();
        UpperArchive.Write(src, buffered);
        FileRangeCopier.FirstMethod = method;
        long before = FileRangeCopier.Moved[(int)method];

        var path = ArchiveFile(NewDir("arch"), src);
        Assert.That(File.ReadAllBytes(path), Is.EqualTo(buffered.ToArray()), "archive written through the kernel");
        var dst = NewDir("dst");
        using (var f = OpenArchive(path)) UpperArchive.Extract(f, dst, new ExtractOptions());
        Tree.AssertSame(Tree.Describe(src), Tree.Describe(dst));
        // Snapshot and restore both moved the large files this way: 3 MiB, 12 x 700,001 (less what the buffer held), 7 MiB sparse.
        Assert.That(FileRangeCopier.Moved[(int)method] - before, Is.GreaterThan(2 * 10_000_000));
    }

    [Test]
    public void SparseSource_IsArchivedAsZeros()
    {
        var src = NewDir("src");
        BuildDataTree(src);
        var path = ArchiveFile(NewDir("arch"), src);
        var dst = NewDir("dst");
        using (var f = OpenArchive(path)) UpperArchive.Extract(f, dst, new ExtractOptions());
        var expected = new byte[5 << 20];
        "data in the middle"u8.CopyTo(expected.AsSpan(2097152));
        Assert.That(File.ReadAllBytes(dst + "/sparse"), Is.EqualTo(expected));
        Assert.That(File.ReadAllBytes(dst + "/holes"), Is.EqualTo(new byte[2 << 20]));
    }

    /// <summary>What the kernel takes for each pair of filesystems (5.19 and later): copy_file_range within one, splice (sendfile) across.</summary>
    [TestCase("same tmpfs", "CopyFileRange")]
    [TestCase("another tmpfs", "Splice")]
    [TestCase("an overlay", "Splice")]
    public void Restore_TakesTheBestMethodTheKernelAllows(string destination, string expectedName)
    {
        var expected = Enum.Parse<CopyMethod>(expectedName);
        var src = NewDir("src");
        Sh.Run($"head -c 3000000 /dev/urandom > {Sh.Q(src)}/big");
        var path = ArchiveFile(NewDir("arch"), src);
        var top = NewDir("mnt");
        var dst = top + "/dst";
        Directory.CreateDirectory(dst);
        try
        {
            if (destination == "another tmpfs") Sh.Run($"mount -t tmpfs other {Sh.Q(dst)}");
            if (destination == "an overlay")
            {
                Sh.Run($"cd {Sh.Q(top)}; mkdir lower upper work; mount -t overlay overlay -o lowerdir=lower,upperdir=upper,workdir=work {Sh.Q(dst)}");
            }
            var before = FileRangeCopier.Moved.ToArray();
            using (var f = OpenArchive(path)) UpperArchive.Extract(f, dst, new ExtractOptions());
            Assert.That(File.ReadAllBytes(dst + "/big"), Is.EqualTo(File.ReadAllBytes(src + "/big")));
            var moved = FileRangeCopier.Moved.Select((n, i) => n - before[i]).ToArray();
            // All of the data but what the first read-ahead buffer held, by that method alone.
            Assert.That(moved[(int)expected], Is.InRange(3000000 - (1 << 20), 3000000 - (1 << 19)), $"moved by method: {string.Join(", ", moved)}");
            Assert.That(moved.Sum(), Is.EqualTo(moved[(int)expected]), $"moved by method: {string.Join(", ", moved)}");
        }
        finally { Sh.Run($"umount {Sh.Q(dst)} 2>/dev/null || true", check: false); }
    }

    [Test]
    public void RestoreFromAFile_LeavesTheStreamOpenForTheCaller()
    {
        var src = NewDir("src");
        BuildDataTree(src);
        var path = ArchiveFile(NewDir("arch"), src);
        using var f = OpenArchive(path);
        UpperArchive.Validate(f, new ExtractOptions());
        Assert.That(f.CanRead, Is.True);
        f.Seek(0, SeekOrigin.Begin);
        UpperArchive.Extract(f, NewDir("dst"), new ExtractOptions());
        Assert.That(f.CanRead, Is.True);
        Assert.That(f.Position, Is.LessThanOrEqualTo(f.Length));
    }

    [TestCase(1_500_000)]   // in the data of 'big', past the first read-ahead buffer
    [TestCase(600_000)]     // in the data of 'big', inside the first buffer
    public void TruncatedArchiveFile_RefusedAlikeByExtractAndValidate(int keep)
    {
        var src = NewDir("src");
        BuildDataTree(src);
        var path = ArchiveFile(NewDir("arch"), src);
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) f.SetLength(keep);
        var dst = NewDir("dst");
        Exception extract, validate;
        using (var f = OpenArchive(path)) extract = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Extract(f, dst, new ExtractOptions()))!;
        using (var f = OpenArchive(path)) validate = Assert.Throws<ArchiveRejectedException>(() => UpperArchive.Validate(f, new ExtractOptions()))!;
        Assert.That(extract.Message, Is.EqualTo("entry './big': archive truncated"));
        Assert.That(validate.Message, Is.EqualTo(extract.Message));
        Assert.That(Directory.EnumerateFileSystemEntries(dst), Is.Empty);
    }

    [TestCase(4_000_000)]
    [TestCase(9_000_000)]
    [TestCase(15_000_000)]
    public void ByteBudget_SameAnswerFromAFileAsFromMemory(long budget)
    {
        var src = NewDir("src");
        BuildDataTree(src);
        var path = ArchiveFile(NewDir("arch"), src);
        var options = new ExtractOptions { MaxBytes = budget };
        string Outcome(Func<ExtractResult> restore)
        {
            try { return restore().ToString(); }
            catch (ArchiveRejectedException ex) { return ex.Message; }
        }
        var fromMemory = Outcome(() => UpperArchive.Validate(new MemoryStream(File.ReadAllBytes(path)), options));
        using (var f = OpenArchive(path)) Assert.That(Outcome(() => UpperArchive.Validate(f, options)), Is.EqualTo(fromMemory));
        using (var f = OpenArchive(path)) Assert.That(Outcome(() => UpperArchive.Extract(f, NewDir("dst"), options)), Is.EqualTo(fromMemory));
    }

    /// <summary>Small files finished by the worker and large ones copied by it: a full layer names an entry and leaves nothing.</summary>
    [TestCase(20_000)]
    [TestCase(300_000)]
    public void FullLayer_WhileTheWorkerWrites_FailsAndLeavesNothing(int fileSize)
    {
        var src = NewDir("src");
        Sh.Run($"cd {Sh.Q(src)}; for i in $(seq 1 {3_000_000 / fileSize}); do head -c {fileSize} /dev/urandom > f$i; done");
        var path = ArchiveFile(NewDir("arch"), src);
        var dst = NewDir("small");
        try
        {
            Sh.Run($"mount -t tmpfs -o size=1m small {Sh.Q(dst)}");
            using var f = OpenArchive(path);
            var ex = Assert.Throws<LayerFullException>(() => UpperArchive.Extract(f, dst, new ExtractOptions()));
            Assert.That(ex!.Message, Does.Match(@"^entry '\./f\d+': upper layer full \(write: No space left on device\)$"));
            Assert.That(Directory.EnumerateFileSystemEntries(dst), Is.Empty);
        }
        finally { Sh.Run($"umount {Sh.Q(dst)}", check: false); }
    }
}
