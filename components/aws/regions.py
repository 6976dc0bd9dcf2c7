"""What an AWS region name looks like (``eu-west-1``, ``us-east-2``, ``us-gov-west-1``)."""

REGION_PATTERN = (r"[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|"
                  r"southwest)-\d")
REGION_MEANING = "an AWS region such as eu-west-1 or us-east-2"
