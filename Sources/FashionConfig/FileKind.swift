import Foundation

/// What a path names. Opening a FIFO for reading waits for a writer, for ever if none comes,
/// so every data, cache, weights and results file is checked to be a regular file before it
/// is opened.
public enum FileKind {
    /// Nil for a regular file (symbolic links followed), else why the path is not one, in
    /// words that follow the path: "is a FIFO (named pipe), not a file".
    public static func notRegular(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot be read (\(String(cString: strerror(errno))))" }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a directory, not a file"
        case S_IFIFO: return "is a FIFO (named pipe), not a file"
        case S_IFCHR, S_IFBLK: return "is a device, not a file"
        case S_IFSOCK: return "is a socket, not a file"
        default: return "is not a regular file"
        }
    }
}
