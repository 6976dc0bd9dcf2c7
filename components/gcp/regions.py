"""What a GCP region name looks like (``europe-west1``, ``us-central1``, ``northamerica-northeast2``)."""

REGION_PATTERN = (r"(africa|asia|australia|europe|me|northamerica|southamerica|us)-"
                  r"(central|east|west|north|south|northeast|northwest|southeast|southwest)\d{1,2}")
REGION_MEANING = "a GCP region such as europe-west1 or us-central1"
