--- A ZIP archive of a few files, "stored" (no compression): what
-- POST /datasets/{id}/documents/download-zip answers.  Any unzip tool reads
-- it; nothing here needs zlib.

local zip = {}

local CRC_TABLE
local function crc_table()
  if not CRC_TABLE then
    CRC_TABLE = {}
    for i = 0, 255 do
      local c = i
      for _ = 1, 8 do
        if c & 1 == 1 then
          c = 0xEDB88320 ~ (c >> 1)
        else
          c = c >> 1
        end
      end
      CRC_TABLE[i] = c
    end
  end
  return CRC_TABLE
end

--- The CRC-32 (IEEE) of `data`, as ZIP records it.
function zip.crc32(data)
  local t = crc_table()
  local crc = 0xFFFFFFFF
  for i = 1, #data do
    crc = t[(crc ~ data:byte(i)) & 0xFF] ~ (crc >> 8)
  end
  return crc ~ 0xFFFFFFFF
end

-- MS-DOS time and date of 1980-01-01 00:00, the earliest ZIP can say:
-- fixed, so that an archive of the same files is the same bytes.
local DOS_TIME, DOS_DATE = 0, (0 << 9) | (1 << 5) | 1

local function local_header(entry)
  return string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 20, 0x0800, 0, DOS_TIME, DOS_DATE,
    entry.crc, #entry.data, #entry.data, #entry.name, 0) .. entry.name
end

local function central_header(entry)
  return string.pack("<I4I2I2I2I2I2I2I4I4I4I2I2I2I2I2I4I4", 0x02014b50, 20, 20, 0x0800, 0,
    DOS_TIME, DOS_DATE, entry.crc, #entry.data, #entry.data, #entry.name, 0, 0, 0, 0, 0,
    entry.offset) .. entry.name
end

-- A second file of the same name would hide the first in most tools.
local function unique_name(name, seen)
  local candidate, n = name, 1
  while seen[candidate] do
    n = n + 1
    local stem, extension = name:match("^(.-)(%.[^.]*)$")
    candidate = stem and (stem .. " (" .. n .. ")" .. extension) or (name .. " (" .. n .. ")")
  end
  seen[candidate] = true
  return candidate
end

--- The archive of `entries`, a list of {name, data} (UTF-8 names).
function zip.archive(entries)
  local pieces, central, offset, seen = {}, {}, 0, {}
  for i, file in ipairs(entries) do
    local entry = { name = unique_name(file.name, seen), data = file.data, crc = zip.crc32(file.data),
      offset = offset }
    local header = local_header(entry)
    pieces[#pieces + 1] = header
    pieces[#pieces + 1] = entry.data
    offset = offset + #header + #entry.data
    central[i] = central_header(entry)
  end
  local directory = table.concat(central)
  pieces[#pieces + 1] = directory
  pieces[#pieces + 1] = string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, #entries, #entries,
    #directory, offset, 0)
  return table.concat(pieces)
end

return zip
